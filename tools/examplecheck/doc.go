// Package examplecheck checks the examples that mailshift's own tests
// cannot load: the Nomad job (parsed with the HCL library Nomad reads job
// files with) and, through its k8sschema command, the JSON Schemas that
// kubeconform validates the Kubernetes manifests against without a
// network. It is a module of its own so that these libraries never become
// dependencies of mailshift.
package examplecheck
