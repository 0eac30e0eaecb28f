# mailshift bulk as a Nomad batch job: var.shards allocations at once,
# allocation I (NOMAD_ALLOC_INDEX, 0-based) runs shard I+1 of var.shards
# against its own state file on the host volume "mailshift-state".
#
#   nomad var put nomad/jobs/mailshift users_csv=@users.csv
#   nomad job run -var shards=4 mailshift.nomad.hcl
#
# For a sync pass: nomad job run -var shards=4 -var step=sync mailshift.nomad.hcl

variable "shards" {
  type        = number
  default     = 4
  description = "How many shards the approved plan is split into (shards.count)."
}

variable "step" {
  type        = string
  default     = "bulk"
  description = "The step each shard runs: bulk, sync, cutover, verify or status."
}

variable "version" {
  type        = string
  default     = "latest"
  description = "The mailshift release to install (pin one, e.g. v1.2.3)."
}

job "mailshift" {
  type        = "batch"
  datacenters = ["*"]

  group "shard" {
    count = var.shards

    # A shard is retried where it ran: its state is on that node's host
    # volume. A failed allocation is not moved elsewhere.
    restart {
      attempts = 3
      delay    = "1m"
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    volume "state" {
      type      = "host"
      source    = "mailshift-state"
      read_only = false
    }

    # mailshift is one static binary; it goes into the allocation's shared
    # directory for the main task.
    task "install" {
      driver = "docker"

      lifecycle {
        hook    = "prestart"
        sidecar = false
      }

      config {
        image   = "golang:1.26-bookworm"
        command = "go"
        args    = ["install", "github.com/mailshift/mailshift/cmd/mailshift@${var.version}"]
      }

      env {
        GOBIN       = "/alloc/bin"
        CGO_ENABLED = "0"
      }

      resources {
        cpu    = 1000
        memory = 1024
      }
    }

    task "mailshift" {
      driver = "docker"

      config {
        image   = "gcr.io/distroless/static-debian12"
        command = "/alloc/bin/mailshift"
        args = [
          "--config", "/local/mailshift.yaml",
          "--state", "/state/project/mailshift.db",
          "--shard-state", "/state/shards/",
          "--log-format", "json",
          "--quiet",
          var.step,
        ]
      }

      volume_mount {
        volume      = "state"
        destination = "/state"
      }

      env {
        # NOMAD_ALLOC_INDEX names the shard; this says how many there are.
        MAILSHIFT_SHARDS_COUNT = "${var.shards}"
      }

      # The project's configuration: the endpoints and folder mapping the
      # plan was approved under.
      template {
        destination = "local/mailshift.yaml"
        data        = <<-EOT
          source:
            url: imaps://imap.old.example
          target:
            url: imaps://imap.new.example
          users:
            file: /secrets/users.csv
          reports:
            dir: /state/shards/reports-{{ env "NOMAD_ALLOC_INDEX" }}
          logs:
            dir: /state/shards/logs-{{ env "NOMAD_ALLOC_INDEX" }}
        EOT
      }

      # The users file with its passwords, from a Nomad Variable.
      template {
        destination = "secrets/users.csv"
        perms       = "0400"
        data        = <<-EOT
          {{- with nomadVar "nomad/jobs/mailshift" -}}{{ .users_csv }}{{- end -}}
        EOT
      }

      resources {
        cpu    = 1000
        memory = 512
      }
    }
  }
}
