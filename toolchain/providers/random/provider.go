package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"reflect"
	"strings"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
)

// randReader is the source of every random value except a seeded RandomInteger.
var randReader = rand.Reader

// randomProvider implements plugin.Provider; plugin.NewProviderServer turns it into the gRPC
// ResourceProvider service and handles the wire format, including secrets: outputs made secret
// here reach the engine as secrets when it said (in Configure) that it accepts them.
type randomProvider struct {
	plugin.UnimplementedProvider
}

func newRandomProvider() *randomProvider { return &randomProvider{} }

func lookup(tok string) (*resourceSpec, error) {
	if s, ok := resourceSpecs[tok]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("resource type %s is not implemented by opsbook's pulumi-resource-random %s; it implements %s",
		tok, providerVersion, strings.Join(sortedTokens(), ", "))
}

func (p *randomProvider) Close() error { return nil }

func (p *randomProvider) SignalCancellation(context.Context) error { return nil }

func (p *randomProvider) Handshake(context.Context, plugin.ProviderHandshakeRequest) (*plugin.ProviderHandshakeResponse, error) {
	return &plugin.ProviderHandshakeResponse{AcceptSecrets: true, AcceptResources: true}, nil
}

func (p *randomProvider) GetPluginInfo(context.Context) (plugin.PluginInfo, error) {
	v := semver.MustParse(providerVersion)
	return plugin.PluginInfo{Version: &v}, nil
}

func (p *randomProvider) GetSchema(context.Context, plugin.GetSchemaRequest) (plugin.GetSchemaResponse, error) {
	return plugin.GetSchemaResponse{Schema: packageSchema()}, nil
}

// The provider has no configuration; `version` and the like are passed through.
func (p *randomProvider) CheckConfig(_ context.Context, req plugin.CheckConfigRequest) (plugin.CheckConfigResponse, error) {
	return plugin.CheckConfigResponse{Properties: req.News}, nil
}

func (p *randomProvider) DiffConfig(context.Context, plugin.DiffConfigRequest) (plugin.DiffConfigResponse, error) {
	return plugin.DiffResult{Changes: plugin.DiffNone}, nil
}

func (p *randomProvider) Configure(context.Context, plugin.ConfigureRequest) (plugin.ConfigureResponse, error) {
	return plugin.ConfigureResponse{}, nil
}

func (p *randomProvider) Check(_ context.Context, req plugin.CheckRequest) (plugin.CheckResponse, error) {
	spec, err := lookup(string(req.Type))
	if err != nil {
		return plugin.CheckResponse{}, err
	}
	inputs, failures := checkInputs(spec, req.News)
	return plugin.CheckResponse{Properties: inputs, Failures: failures}, nil
}

// diffValue returns the value of an input for comparison: secrets unwrapped, a missing value
// replaced by its default, a missing or empty keepers map as nil. ok is false for unknowns.
func diffValue(p propSpec, m resource.PropertyMap) (any, bool) {
	v, has := m[resource.PropertyKey(p.Name)]
	if !has || unwrap(v).IsNull() {
		return p.Default, true
	}
	x, ok := plain(v)
	if !ok {
		return nil, false
	}
	if mm, isMap := x.(map[string]any); isMap && len(mm) == 0 {
		return nil, true
	}
	return x, true
}

// Diff: every input is "force new", as in the Terraform provider: any change, `keepers`
// included, replaces the resource (a new value is generated).
func (p *randomProvider) Diff(_ context.Context, req plugin.DiffRequest) (plugin.DiffResponse, error) {
	spec, err := lookup(string(req.Type))
	if err != nil {
		return plugin.DiffResult{}, err
	}
	olds := req.OldInputs
	if len(olds) == 0 { // state written without inputs: read them from the outputs
		olds = req.OldOutputs
	}
	ignored := map[string]bool{}
	for _, k := range req.IgnoreChanges {
		ignored[k] = true
	}
	res := plugin.DiffResult{Changes: plugin.DiffNone, DetailedDiff: map[string]plugin.PropertyDiff{}}
	for _, prop := range spec.inputs() {
		if ignored[prop.Name] {
			continue
		}
		ov, _ := diffValue(prop, olds)
		nv, nKnown := diffValue(prop, req.NewInputs)
		if nKnown && reflect.DeepEqual(ov, nv) {
			continue
		}
		kind := plugin.DiffUpdateReplace
		if !present(olds, prop.Name) && present(req.NewInputs, prop.Name) && prop.Default == nil {
			kind = plugin.DiffAddReplace
		} else if !present(req.NewInputs, prop.Name) && prop.Default == nil {
			kind = plugin.DiffDeleteReplace
		}
		key := resource.PropertyKey(prop.Name)
		res.ChangedKeys = append(res.ChangedKeys, key)
		res.ReplaceKeys = append(res.ReplaceKeys, key)
		res.DetailedDiff[prop.Name] = plugin.PropertyDiff{Kind: kind, InputDiff: true}
		res.Changes = plugin.DiffSome
	}
	if len(res.DetailedDiff) == 0 {
		res.DetailedDiff = nil
	}
	return res, nil
}

func (p *randomProvider) Create(_ context.Context, req plugin.CreateRequest) (plugin.CreateResponse, error) {
	spec, err := lookup(string(req.Type))
	if err != nil {
		return plugin.CreateResponse{}, err
	}
	if req.Preview {
		return plugin.CreateResponse{Properties: previewOutputs(spec, req.Properties)}, nil
	}
	// Check ran before; run its rules again so a direct call cannot create from invalid inputs.
	inputs, failures := checkInputs(spec, req.Properties)
	if len(failures) > 0 {
		var msgs []string
		for _, f := range failures {
			msgs = append(msgs, f.Reason)
		}
		return plugin.CreateResponse{}, fmt.Errorf("invalid inputs: %s", strings.Join(msgs, "; "))
	}
	id, outputs, err := generate(spec, inputs)
	if err != nil {
		return plugin.CreateResponse{}, err
	}
	return plugin.CreateResponse{ID: id, Properties: outputs, Status: resource.StatusOK}, nil
}

// Read returns the state unchanged (nothing outside the state exists); with no state it imports.
func (p *randomProvider) Read(_ context.Context, req plugin.ReadRequest) (plugin.ReadResponse, error) {
	spec, err := lookup(string(req.Type))
	if err != nil {
		return plugin.ReadResponse{}, err
	}
	if len(req.State) > 0 {
		inputs := req.Inputs
		if len(inputs) == 0 {
			inputs = resource.PropertyMap{}
			for _, prop := range spec.inputs() {
				if v, ok := req.State[resource.PropertyKey(prop.Name)]; ok {
					inputs[resource.PropertyKey(prop.Name)] = v
				}
			}
		}
		return plugin.ReadResponse{
			ReadResult: plugin.ReadResult{ID: req.ID, Inputs: inputs, Outputs: req.State},
			Status:     resource.StatusOK,
		}, nil
	}
	id, inputs, outputs, err := importState(spec, string(req.ID))
	if err != nil {
		return plugin.ReadResponse{}, err
	}
	return plugin.ReadResponse{
		ReadResult: plugin.ReadResult{ID: id, Inputs: inputs, Outputs: outputs},
		Status:     resource.StatusOK,
	}, nil
}

// Update is never needed (every change replaces); should the engine call it, the generated values
// are kept and the inputs updated.
func (p *randomProvider) Update(_ context.Context, req plugin.UpdateRequest) (plugin.UpdateResponse, error) {
	spec, err := lookup(string(req.Type))
	if err != nil {
		return plugin.UpdateResponse{}, err
	}
	out := req.OldOutputs.Copy()
	inputs, _ := checkInputs(spec, req.NewInputs)
	for k, v := range outputsFrom(spec, inputs) {
		out[k] = v
	}
	return plugin.UpdateResponse{Properties: out, Status: resource.StatusOK}, nil
}

// Delete has nothing to remove outside the state.
func (p *randomProvider) Delete(context.Context, plugin.DeleteRequest) (plugin.DeleteResponse, error) {
	return plugin.DeleteResponse{Status: resource.StatusOK}, nil
}
