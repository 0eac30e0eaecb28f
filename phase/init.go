package phase

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ConfigTemplate is the commented configuration `mailshift init` writes.
const ConfigTemplate = `# mailshift project configuration.
# Every key can also be set by environment (MAILSHIFT_SOURCE_URL, ...) and
# some by flags; flags win over the environment, which wins over this file.
# Secrets never need to be written here: passwords live in the users file,
# as plain text or as env:VAR, file:PATH or cmd:COMMAND references.

source:
  # imap://host:143 (STARTTLS) or imaps://host:993 (implicit TLS); or files:
  # maildir:/srv/mail/%u/Maildir, mbox:/exports/%u/, eml:/data/%u/,
  # pst:/archives/%u/*.pst   (%u: the users file's source_user),
  # pstscan:/home,/srv/share (PST files found in these trees; see pst:)
  url: imaps://old.example.com:993
  # tls: none | starttls | implicit   (default from the URL scheme;
  # none is accepted only for loopback hosts unless allow_insecure: true)
  # ca_file: /etc/ssl/private-ca.pem   # trust a private CA
  # auth: plain                        # plain | login | xoauth2 | oauthbearer
  # token: file:/run/secrets/token     # OAuth access token when the users file has none
  # master_user: admin                 # log in on behalf of every user
  # master_password: env:MASTER_PW
  # master_separator: "*"              # Dovecot style user*admin; default SASL authzid
  # timeout: 60s                       # no sign of life for this long: reconnect
  # pst_folders: file                  # file (under a folder named after the file) | merge
  # provider: exchange                 # microsoft365 | exchange | gmail | google_workspace: a preset for the
  #                                    # keys below and verify.level (each can still be set); see the scope of work
  # max_connections: 16                # connections to one mailbox at once; 0: no cap
  # max_message_size: 10MB             # largest message the server takes (collect reports larger ones)
  # keywords: kept                     # kept | lost: the server keeps no IMAP keywords (reported, not verified)
  # oauth:                             # tokens fetched by mailshift for auth xoauth2 / oauthbearer:
  #   provider: microsoft              # microsoft: client credentials (app-only IMAP access)
  #   tenant: contoso.onmicrosoft.com
  #   client_id: 00000000-0000-0000-0000-000000000000
  #   client_secret: env:MS_CLIENT_SECRET   # or certificate: /path/app.pem (certificate and RSA key)
  #   # provider: google               # google: service account with domain-wide delegation
  #   # service_account: file:/run/secrets/sa.json

target:
  url: imaps://new.example.com:993
  # provider: microsoft365             # and every key of source: above
  # The contacts, calendar items, tasks and notes of a pst: source are
  # written under items/<user>/ and, with these set, uploaded with the
  # target user and password (%u: the users file's target_user):
  # carddav: https://dav.example.com/%u/contacts/
  # caldav: https://dav.example.com/%u/calendar/

# allow_insecure: false   # permit unencrypted connections to non-loopback hosts

users:
  # source_user,source_password,target_user,target_password,batch
  # (Microsoft 365 "EmailAddress,UserName,Password" files and imapsync
  # "host1;user1;pass1;host2;user2;pass2" lines are accepted too; the
  # optional columns source_url and target_url give a user's own server in
  # place of source.url and target.url)
  file: users.csv

# Users migrated, verified and timed by "mailshift test" (none listed: the
# first user of each source server).
test_users: [alice@example.com]

folders:
  exclude: []        # glob patterns on source folder names, "/" as separator: ["Trash", "Archive/**"]
  map: {}            # explicit pairs: {"Old Projects": "Archive/Projects"}
  prefix: ""         # put everything under one target folder

sync:
  deletions: keep    # keep | mirror: apply source expunges to the target
  max_delete: 50     # never delete more than this percent of a folder in one pass (sync --force overrides)
  interval: 30s      # how often "sync --follow" passes over every folder (INBOX at once where the source offers IDLE)

verify:
  sample: 1%         # copies whose content verify and cutover read on both sides, per user: a count (20) or a percentage (0.5%); 0 none. "verify --full" reads all

copy:
  workers: 4         # users copied in parallel
  batch_size: 5000   # messages fetched with one command and retried together after a failure
  connections_per_user: 2  # folders of one user copied at once
  retries: 6         # attempts after a dropped connection or a busy server, per folder and login
  retry_wait: 1s     # first wait before a retry; doubles each time, at most a minute

throttle:
  windows: []        # when bulk copy may run, e.g. ["Mon-Fri 19:00-07:00", "Sat-Sun"] (bulk --now overrides); [] always
  # time_zone: Europe/Berlin   # of the windows; default this machine's
  # bandwidth: 20MB/s          # all workers together; unlimited if unset
  # messages_per_second: 50
  # max_connections: 8         # per server
  # daily_per_user: 2GB        # bytes read and written per user and 24 hours (Gmail: 2500 MB download, 500 MB upload a day); unlimited if unset

# gmail:                       # a Gmail source (X-GM-EXT-1) shows labels as folders and all mail again in [Gmail]/All Mail
#   labels: folders            # folders: a copy per label folder | keywords: one copy, labels as keywords | labels: one copy, labels set on a Gmail target | off: folders as Gmail shows them
#   archive_folder: Archive    # where mail with no label (only in All Mail) goes

errors:
  max: 1000          # refused messages after which a user is given up for this run

# verify:
#   level: bytes     # bytes (size and SHA-256) | identity (what survives a re-rendering target:
#                    # Message-ID, date, addresses, subject, attachments, text); default from target.provider

estimate:
  bandwidth: 10MB/s  # used for the duration estimate until "mailshift test" measures one

reports:
  dir: reports

# For a pstscan: source: who owns each PST file found, what is left out,
# and what becomes of a file after its owner's cutover verified it.
# pst:
#   owner_rules:                 # tried in order; the first that names one user assigns the file
#     - path: "/home/{user}/**"  # {user}: the users file's source_user
#     - file_owner: uid          # the file's owner (uid or name) in this extra column of the users file
#     - store_name: true         # the store's display name is the user's name
#     - addresses: true          # the address seen most in its Inbox and Sent is the user's
#   owners: pst-owners.csv       # path,user rows: decide files no rule (or several) assigned
#   keep_duplicates: false       # false: each message once per user, and not if the target has it
#   filters:
#     after: "2010-01-01"        # leave out older items
#     before: "2030-01-01"       # leave out items from this day on
#     exclude_folders: ["Deleted Items", "Junk E-mail"]
#     exclude_classes: ["REPORT.*"]
#   retire: marker               # marker (FILE.migrated beside it) | move:/srv/pst-done

logs:                # every run of collect, approve, test, bulk, sync, cutover, verify leaves a JSON Lines log
  # dir: reports/logs  # default: logs under reports.dir
  keep: 20           # the newest N run logs are kept; 0 keeps all

# shards:              # several stations at once (see "Beyond one station" in the README)
#   count: 8           # shards of the approved plan when the scheduler gives only the index
#                      # (Kubernetes JOB_COMPLETION_INDEX, Nomad NOMAD_ALLOC_INDEX)

# What the scope of work says of the project (all optional: what is left
# out is marked "to be agreed" in the document).
project:
  name: Example Corp mail migration
  customer: Example Corp
  consultant: Mail Movers Ltd
  contacts:
    - {name: Jane Doe, role: IT manager, party: customer, email: jane@example.com}
    - {name: Max Mustermann, role: migration consultant, party: consultant}
  responsibilities:
    - {task: run the migration steps, who: Mail Movers Ltd}
    - {task: inform the users, who: Example Corp IT}
    - {task: change MX and DNS at the cutover, who: Example Corp IT}
  milestones:          # planned dates per step: collect approve test bulk sync cutover
    bulk: "2027-01-15"
    cutover: "2027-01-29"
  assumptions:
    - The target accounts exist before bulk copy.
  out_of_scope:
    - Shared mailboxes and public folders.
  rollback: Point MX back at the old server; mail delivered to the target since the cutover is copied back by hand.
`

// UsersTemplate is the users file `mailshift init` writes.
const UsersTemplate = `source_user,source_password,target_user,target_password,batch
alice@example.com,env:ALICE_OLD_PASSWORD,alice@example.com,env:ALICE_NEW_PASSWORD,wave1
bob@example.com,file:/run/secrets/bob-old,bob@example.com,file:/run/secrets/bob-new,wave2
`

// Init writes a commented mailshift.yaml and a users.csv into dir. It never
// overwrites an existing file unless force is set.
func Init(dir string, force bool) ([]string, error) {
	files := []struct{ name, text string }{{"mailshift.yaml", ConfigTemplate}, {"users.csv", UsersTemplate}}
	if !force {
		for _, f := range files {
			path := filepath.Join(dir, f.name)
			if _, err := os.Stat(path); err == nil {
				return nil, &ConfigError{"init", fmt.Sprintf("%s exists; move it away or run `mailshift init --force` to overwrite it", path)}
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var written []string
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := os.WriteFile(path, []byte(f.text), 0o600); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}
