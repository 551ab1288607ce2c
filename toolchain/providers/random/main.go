// pulumi-resource-random is opsbook's own build of the resource provider behind the npm SDK
// @pulumi/random 4.21.2. It exists because the official provider (the pulumi-random Go module and the
// Terraform random provider it bridges) is not served by the package sources this project can use
// (npm, Debian and the Go module proxy), and the npm package is only an SDK: it ships no plugin.
//
// It is a small native provider written against github.com/pulumi/pulumi/sdk/v3. It implements the
// SDK's tokens RandomPassword, RandomString, RandomBytes, RandomId, RandomInteger, RandomUuid,
// RandomUuid4 and RandomUuid7 (not RandomPet nor RandomShuffle) with the SDK's exact inputs and
// outputs, the documented defaults, and the rule that every input change replaces the resource.
// Values come from crypto/rand (RandomInteger with a `seed` is deterministic instead).
// scripts/lib/plugin-random.sh builds it and installs it into Pulumi's plugin cache as random 4.21.2.
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func main() {
	err := provider.Main(providerName, func(*provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return plugin.NewProviderServer(newRandomProvider()), nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-random: %v\n", err)
		os.Exit(1)
	}
}
