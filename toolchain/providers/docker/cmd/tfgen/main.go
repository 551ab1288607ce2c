// pulumi-tfgen-docker writes the schema (and the bridge's metadata) that pulumi-resource-docker
// embeds. Upstream docs are read from the Terraform provider's module directory, given by
// OPSBOOK_DOCKER_UPSTREAM: the module is required under its go.mod name but downloaded from the
// kreuzwerker path, which the bridge's own guess of the location would miss.
package main

import (
	"os"

	pftfgen "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

	docker "opsbook/toolchain/providers/docker"
)

func main() {
	info := docker.Provider(nil)
	info.UpstreamRepoPath = os.Getenv("OPSBOOK_DOCKER_UPSTREAM")
	pftfgen.MainWithMuxer("docker", info)
}
