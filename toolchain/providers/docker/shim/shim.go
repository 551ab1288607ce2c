// Package shim exposes the Terraform docker provider, which lives in the upstream module's
// internal/provider and so can only be imported from a module whose path sits under the
// upstream one: this module's name exists for Go's internal rule, not for publishing.
package shim

import (
	fwprovider "github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"

	"github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

// SDKProvider is the SDKv2 half of the upstream mux: every resource and data source that
// @pulumi/docker exposes lives here.
func SDKProvider(version string) *schema.Provider {
	return provider.New(version)()
}

// FrameworkProvider is the plugin-framework half; upstream serves both halves as one provider
// (they share the provider configuration), so the bridge muxes them the same way.
func FrameworkProvider(version string) fwprovider.Provider {
	return provider.NewFrameworkProvider(version)()
}
