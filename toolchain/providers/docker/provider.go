// Package docker maps the Terraform docker provider onto the tokens and property names of
// @pulumi/docker 5.2.0, so that the npm SDK the stack pins talks to a plugin built here.
package docker

import (
	"context"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/terraform-providers/terraform-provider-docker/shim"
)

// Version is set at link time (-X opsbook/toolchain/providers/docker.Version=5.2.0): the engine
// picks a plugin from its cache only by the exact version of the npm SDK's `pulumi.version`,
// so the label and the SDK version must be one value, chosen by the build script.
var Version = "0.0.0-dev"

const pkgName = "docker"

// Provider describes the bridged provider. metadata is the bridge-metadata.json that tfgen
// wrote next to schema.json (nil while tfgen itself runs).
func Provider(metadata []byte) tfbridge.ProviderInfo {
	ctx := context.Background()
	// Upstream serves an SDKv2 provider and a plugin-framework provider muxed as one; the
	// resources the SDK knows are all on the SDKv2 side, but both halves share the provider
	// configuration, so they are muxed here too.
	p := pftfbridge.MuxShimWithPF(ctx,
		shimv2.NewProvider(shim.SDKProvider(Version)),
		shim.FrameworkProvider(Version))

	info := tfbridge.ProviderInfo{
		P:            p,
		Name:         "docker",
		Version:      Version,
		Description:  "A Pulumi package for interacting with Docker in Pulumi programs",
		Keywords:     []string{"docker"},
		License:      "Apache-2.0",
		Homepage:     "https://pulumi.io",
		Repository:   "https://github.com/pulumi/pulumi-docker",
		GitHubOrg:    "terraform-providers",
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		Config: map[string]*tfbridge.SchemaInfo{
			// Upstream defaults the host from DOCKER_HOST in code; saying it here also puts the
			// default into the schema, as the SDK documents it.
			"host": {Default: &tfbridge.DefaultInfo{
				Value:   "unix:///var/run/docker.sock",
				EnvVars: []string{"DOCKER_HOST"},
			}},
			// A list of blocks the bridge would otherwise name "registryAuths"; the SDK says
			// registryAuth.
			"registry_auth": {Name: "registryAuth"},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			// The SDK's names for these two differ from Terraform's (the SDK's own
			// docker:index/image:Image is a native build resource, not bridged).
			"docker_image": {
				Tok: tfbridge.MakeResource(pkgName, "index", "RemoteImage"),
				// The image reference to use, not a name of our choosing: never auto-named.
				Fields: map[string]*tfbridge.SchemaInfo{"name": {Name: "name"}},
			},
			"docker_config": {Tok: tfbridge.MakeResource(pkgName, "index", "ServiceConfig")},
			"docker_container": {
				Tok: tfbridge.MakeResource(pkgName, "index", "Container"),
				// A container keeps its name, ports and mounts: a create-first replacement
				// would collide with the running one.
				DeleteBeforeReplace: true,
				Fields: map[string]*tfbridge.SchemaInfo{
					// One command line given as a list of words, not several commands.
					"command": {Name: "command"},
					// Terraform's name is singular although it holds many networks, and the SDK
					// kept it that way.
					"networks_advanced": {Name: "networksAdvanced"},
				},
			},
			"docker_network":        {Tok: tfbridge.MakeResource(pkgName, "index", "Network")},
			"docker_volume":         {Tok: tfbridge.MakeResource(pkgName, "index", "Volume")},
			"docker_secret":         {Tok: tfbridge.MakeResource(pkgName, "index", "Secret")},
			"docker_service":        {Tok: tfbridge.MakeResource(pkgName, "index", "Service")},
			"docker_plugin":         {Tok: tfbridge.MakeResource(pkgName, "index", "Plugin")},
			"docker_registry_image": {Tok: tfbridge.MakeResource(pkgName, "index", "RegistryImage")},
			"docker_tag":            {Tok: tfbridge.MakeResource(pkgName, "index", "Tag")},
			"docker_buildx_builder": {Tok: tfbridge.MakeResource(pkgName, "index", "BuildxBuilder")},
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_image":                    {Tok: tfbridge.MakeDataSource(pkgName, "index", "getRemoteImage")},
			"docker_network":                  {Tok: tfbridge.MakeDataSource(pkgName, "index", "getNetwork")},
			"docker_plugin":                   {Tok: tfbridge.MakeDataSource(pkgName, "index", "getPlugin")},
			"docker_logs":                     {Tok: tfbridge.MakeDataSource(pkgName, "index", "getLogs")},
			"docker_registry_image":           {Tok: tfbridge.MakeDataSource(pkgName, "index", "getRegistryImage")},
			"docker_registry_image_manifests": {Tok: tfbridge.MakeDataSource(pkgName, "index", "getRegistryImageManifests")},
		},
		// Newer upstream additions that @pulumi/docker 5.2.0 has no classes for: a token the
		// SDK cannot call would only widen the schema past the SDK.
		IgnoreMappings: []string{
			"docker_compose",
			"docker_containers",
			"docker_registry_image_tags",
		},
	}
	// Names of swarm objects (secrets, configs, services, ...) get Pulumi's random suffix
	// unless given: that is what lets a changed secret be replaced create-first while a
	// service still uses the old one.
	info.SetAutonaming(255, "-")
	return info
}
