// Package deploy holds no code, only tests of the deployment files beside it:
// the kustomize manifests in k8s/ and k8s-overlays/, the Dockerfile, the
// compose file and the settings they name. It is a module of its own so that
// the Kubernetes and kustomize libraries stay out of the product's go.mod.
//
// Run from this folder, with no cluster, kubectl or network:
//
//	go test ./...
package deploy
