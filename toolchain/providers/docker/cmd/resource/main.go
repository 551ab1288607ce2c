// pulumi-resource-docker is @pulumi/docker's provider plugin, bridged here from the Terraform
// docker provider with pulumi-terraform-bridge because the official provider module
// (github.com/pulumi/pulumi-docker/provider) is refused by the Go module proxy, the only Go
// source this project's toolchain may use.
//
// schema.json and bridge-metadata.json are not in the repository: scripts/lib/plugin-docker.sh
// generates them with pulumi-tfgen-docker into a build copy of this directory before building.
package main

import (
	"context"
	_ "embed"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"

	docker "opsbook/toolchain/providers/docker"
)

//go:embed schema.json
var schema []byte

//go:embed bridge-metadata.json
var metadata []byte

func main() {
	pftfbridge.MainWithMuxer(context.Background(), "docker", docker.Provider(metadata), schema)
}
