package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
)

// The npm SDK's code was generated from pulumi-docker's own schema; the SDK is what the stack's
// programs compile against. So its .d.ts files are the contract: every resource, function,
// provider input and nested type the SDK declares must come out of our schema with the same
// property names, the same optionality and the same types, and our schema must declare nothing
// the SDK cannot use.

const sdkVersion = "5.2.0"

// --- the schema, as the plugin serves it -----------------------------------------------------

type schemaProp struct {
	Type                 string      `json:"type"`
	Ref                  string      `json:"$ref"`
	Items                *schemaProp `json:"items"`
	AdditionalProperties *schemaProp `json:"additionalProperties"`
	OneOf                []schemaProp
}

type schemaObject struct {
	Properties map[string]schemaProp `json:"properties"`
	Required   []string              `json:"required"`
	Language   struct {
		Nodejs struct {
			RequiredOutputs []string `json:"requiredOutputs"`
		} `json:"nodejs"`
	} `json:"language"`
}

type schemaResource struct {
	schemaObject
	InputProperties map[string]schemaProp `json:"inputProperties"`
	RequiredInputs  []string              `json:"requiredInputs"`
	StateInputs     *schemaObject         `json:"stateInputs"`
}

type schemaFunction struct {
	Inputs  *schemaObject `json:"inputs"`
	Outputs *schemaObject `json:"outputs"`
}

type packageSchema struct {
	Name      string                    `json:"name"`
	Resources map[string]schemaResource `json:"resources"`
	Functions map[string]schemaFunction `json:"functions"`
	Types     map[string]schemaObject   `json:"types"`
	Provider  schemaResource            `json:"provider"`
	Config    struct {
		Variables map[string]schemaProp `json:"variables"`
	} `json:"config"`
}

func getSchema(t *testing.T, client pulumirpc.ResourceProviderClient) packageSchema {
	t.Helper()
	info, err := client.GetPluginInfo(context.Background(), &emptypb.Empty{})
	if err != nil {
		t.Fatalf("GetPluginInfo: %v", err)
	}
	if info.Version != sdkVersion {
		t.Errorf("plugin reports version %q, want %q (the version ldflag did not take)", info.Version, sdkVersion)
	}
	resp, err := client.GetSchema(context.Background(), &pulumirpc.GetSchemaRequest{})
	if err != nil {
		t.Fatalf("GetSchema: %v", err)
	}
	var s packageSchema
	if err := json.Unmarshal([]byte(resp.Schema), &s); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	return s
}

// --- the SDK's declarations ------------------------------------------------------------------

type tsMember struct {
	optional bool
	typ      string // normalised, see normType
}

// tsDecls maps a declaration's qualified name ("SecretArgs", "config.RegistryAuth",
// "Provider.TerraformConfigResult") to its property members; methods are listed apart.
type tsDecls struct {
	props   map[string]map[string]tsMember
	methods map[string][]string
}

var (
	blockComment = regexp.MustCompile(`(?s)/\*.*?\*/`)
	lineComment  = regexp.MustCompile(`(?m)^\s*//.*$`)
	declHead     = regexp.MustCompile(`^(?:export\s+)?(?:declare\s+)?(interface|class|namespace)\s+([A-Za-z_$][\w$]*)[^{;]*\{`)
	memberHead   = regexp.MustCompile(`^(?:readonly\s+)?([A-Za-z_$][\w$]*)(\??)\s*:\s*`)
)

func parseDTS(t *testing.T, path string) tsDecls {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the SDK: %v", err)
	}
	src := lineComment.ReplaceAllString(blockComment.ReplaceAllString(string(raw), ""), "")
	d := tsDecls{props: map[string]map[string]tsMember{}, methods: map[string][]string{}}
	parseScope(src, "", &d)
	return d
}

// parseScope walks the statements of a file or namespace body.
func parseScope(src, prefix string, d *tsDecls) {
	for i := 0; i < len(src); {
		rest := strings.TrimLeft(src[i:], " \t\r\n")
		i = len(src) - len(rest)
		if rest == "" {
			return
		}
		if m := declHead.FindStringSubmatch(rest); m != nil {
			open := i + len(m[0]) - 1
			end := matchBrace(src, open)
			body := src[open+1 : end]
			switch m[1] {
			case "namespace":
				parseScope(body, prefix+m[2]+".", d)
			default:
				parseMembers(body, prefix+m[2], d)
			}
			i = end + 1
			continue
		}
		// Any other statement (import, export const/function, export {...}) ends at ';' at depth 0.
		i = statementEnd(src, i) + 1
	}
}

func parseMembers(body, name string, d *tsDecls) {
	props := map[string]tsMember{}
	for i := 0; i < len(body); {
		end := statementEnd(body, i)
		stmt := strings.TrimSpace(body[i:end])
		i = end + 1
		if stmt == "" || strings.HasPrefix(stmt, "static ") || strings.HasPrefix(stmt, "constructor") ||
			strings.HasPrefix(stmt, "private ") || strings.HasPrefix(stmt, "protected ") {
			continue
		}
		m := memberHead.FindStringSubmatch(stmt)
		if m == nil {
			// A method: name(...): type.
			if p := strings.IndexAny(stmt, "(<"); p > 0 {
				d.methods[name] = append(d.methods[name], strings.TrimSpace(stmt[:p]))
			}
			continue
		}
		typ, undef := normType(stmt[len(m[0]):])
		props[m[1]] = tsMember{optional: m[2] == "?" || undef, typ: typ}
	}
	d.props[name] = props
}

// statementEnd finds the ';' that ends the statement starting at i, skipping nested (), {}, <>, [].
func statementEnd(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '(', '{', '[', '<':
			depth++
		case ')', '}', ']':
			depth--
		case '>':
			if i > 0 && s[i-1] == '=' { // "=>" is not a bracket
				continue
			}
			depth--
		case ';':
			if depth == 0 {
				return i
			}
		}
	}
	return len(s)
}

func matchBrace(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return len(s)
}

// normType strips the SDK's wrappers (pulumi.Input<>, pulumi.Output<>, the inputs./outputs.
// namespaces, "| undefined", spacing) down to the shape that schemaType renders, and says
// whether "| undefined" was part of it (the SDK's mark of an optional output).
func normType(s string) (string, bool) {
	s = strings.Join(strings.Fields(s), "")
	for _, w := range []string{"pulumi.Input<", "pulumi.Output<"} {
		for {
			p := strings.Index(s, w)
			if p < 0 {
				break
			}
			depth, q := 1, p+len(w)
			for ; q < len(s) && depth > 0; q++ {
				switch s[q] {
				case '<':
					depth++
				case '>':
					depth--
				}
			}
			s = s[:p] + s[p+len(w):q-1] + s[q:]
		}
	}
	undef := strings.Contains(s, "|undefined")
	s = strings.ReplaceAll(s, "|undefined", "")
	s = strings.ReplaceAll(s, "inputs.", "")
	s = strings.ReplaceAll(s, "outputs.", "")
	s = strings.ReplaceAll(s, ";}", "}")
	return s, undef
}

// schemaType renders a schema property the way the SDK's declarations spell it after normType.
func schemaType(p schemaProp) string {
	switch {
	case p.Ref != "":
		return refName(p.Ref)
	case p.Type == "string":
		return "string"
	case p.Type == "integer" || p.Type == "number":
		return "number"
	case p.Type == "boolean":
		return "boolean"
	case p.Type == "array" && p.Items != nil:
		return schemaType(*p.Items) + "[]"
	case p.Type == "object" && p.AdditionalProperties != nil:
		return "{[key:string]:" + schemaType(*p.AdditionalProperties) + "}"
	case p.Type == "object":
		return "{[key:string]:any}"
	}
	return "any"
}

// refName turns "#/types/docker:index/SecretLabel:SecretLabel" into "SecretLabel" and
// "#/types/docker:config/registryAuth:registryAuth" into "config.RegistryAuth", the SDK's names.
func refName(ref string) string {
	if strings.HasPrefix(ref, "pulumi.json#/") {
		return "any"
	}
	return typeName(strings.TrimPrefix(ref, "#/types/"))
}

func typeName(token string) string {
	parts := strings.Split(token, ":")
	name := []rune(parts[len(parts)-1])
	name[0] = unicode.ToUpper(name[0])
	if strings.HasPrefix(parts[1], "config") {
		return "config." + string(name)
	}
	return string(name)
}

func upperFirst(s string) string {
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// --- the comparison --------------------------------------------------------------------------

type mismatches struct {
	list     []string
	compared int // properties found on both sides: a parser that saw nothing would pass vacuously
}

func (m *mismatches) add(format string, args ...any) {
	m.list = append(m.list, fmt.Sprintf(format, args...))
}

// compare checks one SDK declaration against one schema object. required says which schema
// properties the SDK must declare without "?"/"| undefined"; allOptional for state objects.
func (m *mismatches) compare(where string, sdk map[string]tsMember, props map[string]schemaProp, required []string, allOptional bool) {
	if sdk == nil {
		m.add("%s: the SDK declares no such interface", where)
		return
	}
	req := map[string]bool{}
	for _, r := range required {
		req[r] = true
	}
	for _, name := range sortedKeys(props) {
		mem, ok := sdk[name]
		if !ok {
			m.add("%s.%s: in the schema, not in the SDK", where, name)
			continue
		}
		m.compared++
		if want := schemaType(props[name]); mem.typ != want {
			m.add("%s.%s: the SDK says %s, the schema %s", where, name, mem.typ, want)
		}
		wantOptional := allOptional || !req[name]
		if mem.optional != wantOptional {
			m.add("%s.%s: optional in the SDK %v, in the schema %v", where, name, mem.optional, wantOptional)
		}
	}
	for _, name := range sortedKeys(sdk) {
		if _, ok := props[name]; !ok {
			m.add("%s.%s: in the SDK, not in the schema", where, name)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var exportedConst = regexp.MustCompile(`export declare const (\w+): typeof import\("\./(\w+)"\)\.(\w+);`)

func TestSchemaMatchesNpmSDK(t *testing.T) {
	sdkDir := filepath.Join(repoRoot(t), "node_modules", "@pulumi", "docker")
	var pkg struct {
		Version string `json:"version"`
	}
	raw, err := os.ReadFile(filepath.Join(sdkDir, "package.json"))
	if err != nil {
		t.Fatalf("the npm SDK is not installed (%v): run npm ci at the repository root", err)
	}
	if err := json.Unmarshal(raw, &pkg); err != nil || pkg.Version != sdkVersion {
		t.Fatalf("node_modules/@pulumi/docker is %q (%v), these tests are for %s", pkg.Version, err, sdkVersion)
	}

	client, _ := startPlugin(t)
	s := getSchema(t, client)
	if s.Name != "docker" {
		t.Errorf("schema name %q, want docker", s.Name)
	}

	inputs := parseDTS(t, filepath.Join(sdkDir, "types", "input.d.ts"))
	outputs := parseDTS(t, filepath.Join(sdkDir, "types", "output.d.ts"))
	var bad mismatches

	// The SDK's resources and functions, from its index.
	index, err := os.ReadFile(filepath.Join(sdkDir, "index.d.ts"))
	if err != nil {
		t.Fatal(err)
	}
	sdkResources, sdkFunctions := map[string]string{}, map[string]string{}
	for _, m := range exportedConst.FindAllStringSubmatch(string(index), -1) {
		name, file := m[1], m[2]
		switch {
		case strings.HasSuffix(name, "Output"):
		case unicode.IsUpper(rune(name[0])):
			sdkResources[fmt.Sprintf("docker:index/%s:%s", file, name)] = file
		default:
			sdkFunctions[fmt.Sprintf("docker:index/%s:%s", file, name)] = file
		}
	}

	// docker:index/image:Image is pulumi-docker's own build resource, not bridged; its types
	// (DockerBuild, Registry, CacheFrom, ...) are left out of the comparison with it.
	const nativeImage = "docker:index/image:Image"
	if _, ok := sdkResources[nativeImage]; !ok {
		bad.add("%s: expected in the SDK (it is left out of the bridge on purpose)", nativeImage)
	}
	delete(sdkResources, nativeImage)
	nativeTypes := reachableTypes(parseDTS(t, filepath.Join(sdkDir, "image.d.ts")), inputs, outputs)

	for tok, file := range sdkResources {
		if _, ok := s.Resources[tok]; !ok {
			bad.add("resource %s: in the SDK (%s.d.ts), not in the schema", tok, file)
		}
	}
	for _, tok := range sortedKeys(s.Resources) {
		r := s.Resources[tok]
		name := tok[strings.LastIndex(tok, ":")+1:]
		file, ok := sdkResources[tok]
		if !ok {
			bad.add("resource %s: in the schema, not in the SDK", tok)
			continue
		}
		d := parseDTS(t, filepath.Join(sdkDir, file+".d.ts"))
		bad.compare(name+"Args", d.props[name+"Args"], r.InputProperties, r.RequiredInputs, false)
		if r.StateInputs != nil {
			bad.compare(name+"State", d.props[name+"State"], r.StateInputs.Properties, nil, true)
		} else if d.props[name+"State"] != nil {
			bad.add("%sState: in the SDK, the schema has no state inputs", name)
		}
		// The class's outputs; "id" and "urn" come from CustomResource, not the schema.
		outs := d.props[name]
		delete(outs, "id")
		delete(outs, "urn")
		bad.compare(name+" (outputs)", outs, r.Properties, r.Required, false)
	}

	for tok, file := range sdkFunctions {
		if _, ok := s.Functions[tok]; !ok {
			bad.add("function %s: in the SDK (%s.d.ts), not in the schema", tok, file)
		}
	}
	for _, tok := range sortedKeys(s.Functions) {
		f := s.Functions[tok]
		// Provider methods (pulumi:providers:docker/terraformConfig) are declared on the
		// Provider class, their result in its namespace.
		if method, ok := strings.CutPrefix(tok, "pulumi:providers:docker/"); ok {
			d := parseDTS(t, filepath.Join(sdkDir, "provider.d.ts"))
			if !contains(d.methods["Provider"], method) {
				bad.add("provider method %s: not on the SDK's Provider class", method)
			}
			if f.Outputs != nil {
				bad.compare("Provider."+upperFirst(method)+"Result", d.props["Provider."+upperFirst(method)+"Result"],
					f.Outputs.Properties, f.Outputs.Required, false)
			}
			continue
		}
		file, ok := sdkFunctions[tok]
		if !ok {
			bad.add("function %s: in the schema, not in the SDK", tok)
			continue
		}
		d := parseDTS(t, filepath.Join(sdkDir, file+".d.ts"))
		name := upperFirst(file)
		if f.Inputs != nil {
			bad.compare(name+"Args", d.props[name+"Args"], f.Inputs.Properties, f.Inputs.Required, false)
		} else if d.props[name+"Args"] != nil {
			bad.add("%sArgs: in the SDK, the schema's function takes no inputs", name)
		}
		if f.Outputs != nil {
			bad.compare(name+"Result", d.props[name+"Result"], f.Outputs.Properties, f.Outputs.Required, false)
		}
	}

	// The provider: its inputs, its (string) outputs and the config variables.
	pd := parseDTS(t, filepath.Join(sdkDir, "provider.d.ts"))
	bad.compare("ProviderArgs", pd.props["ProviderArgs"], s.Provider.InputProperties, s.Provider.RequiredInputs, false)
	provOuts := pd.props["Provider"]
	delete(provOuts, "id")
	delete(provOuts, "urn")
	// Pulumi's Node.js code generator gives a provider class only its string outputs (a
	// provider's state is its configuration, stringly typed by the engine).
	stringOuts := map[string]schemaProp{}
	for name, p := range s.Provider.Properties {
		if p.Type == "string" {
			stringOuts[name] = p
		}
	}
	bad.compare("Provider (outputs)", provOuts, stringOuts, s.Provider.Required, false)
	vars := parseConfigVars(t, filepath.Join(sdkDir, "config", "vars.d.ts"))
	bad.compare("config", vars, s.Config.Variables, nil, true)

	// Nested types: each schema type must be declared by input.d.ts or output.d.ts (or both) and
	// match each declaration; each declared type must be in the schema.
	schemaTypes := map[string]schemaObject{}
	for tok, ty := range s.Types {
		schemaTypes[typeName(tok)] = ty
	}
	for _, name := range sortedKeys(schemaTypes) {
		ty := schemaTypes[name]
		in, inOK := inputs.props[name]
		out, outOK := outputs.props[name]
		if !inOK && !outOK {
			bad.add("type %s: in the schema, in neither types/input.d.ts nor types/output.d.ts", name)
			continue
		}
		if inOK {
			bad.compare("inputs."+name, in, ty.Properties, ty.Required, false)
		}
		if outOK {
			req := ty.Required
			if ro := ty.Language.Nodejs.RequiredOutputs; ro != nil {
				req = ro
			}
			bad.compare("outputs."+name, out, ty.Properties, req, false)
		}
	}
	for _, d := range []struct {
		file  string
		decls tsDecls
	}{{"input.d.ts", inputs}, {"output.d.ts", outputs}} {
		for _, name := range sortedKeys(d.decls.props) {
			if _, ok := schemaTypes[name]; ok || nativeTypes[name] {
				continue
			}
			// A type that a function takes is declared twice in input.d.ts: plain for getX,
			// and with an Args suffix (its fields pulumi.Input) for getXOutput.
			if plain, ok := strings.CutSuffix(name, "Args"); ok && d.file == "input.d.ts" {
				if ty, ok := schemaTypes[plain]; ok {
					bad.compare("inputs."+name, d.decls.props[name], ty.Properties, ty.Required, false)
					continue
				}
			}
			bad.add("type %s: in types/%s, not in the schema", name, d.file)
		}
	}

	t.Logf("compared %d resources, %d functions, the provider and %d nested types (%d properties); left out as native: %s, types %v",
		len(s.Resources), len(s.Functions), len(schemaTypes), bad.compared, nativeImage, sortedKeys(nativeTypes))
	if bad.compared < 1000 {
		bad.add("only %d properties were compared: the .d.ts parser lost its way", bad.compared)
	}
	if len(bad.list) > 0 {
		t.Errorf("the schema differs from @pulumi/docker %s in %d places:\n  %s", sdkVersion, len(bad.list), strings.Join(bad.list, "\n  "))
	}
}

// reachableTypes lists the nested types the native Image resource's declarations lead to.
func reachableTypes(image, inputs, outputs tsDecls) map[string]bool {
	seen := map[string]bool{}
	ident := regexp.MustCompile(`[A-Za-z_][\w.]*`)
	var visit func(members map[string]tsMember)
	visit = func(members map[string]tsMember) {
		for _, m := range members {
			for _, id := range ident.FindAllString(m.typ, -1) {
				if seen[id] {
					continue
				}
				in, inOK := inputs.props[id]
				out, outOK := outputs.props[id]
				if !inOK && !outOK {
					continue
				}
				seen[id] = true
				visit(in)
				visit(out)
			}
		}
	}
	for _, members := range image.props {
		visit(members)
	}
	return seen
}

var configVar = regexp.MustCompile(`export declare const (\w+): ([^;]+);`)

func parseConfigVars(t *testing.T, path string) map[string]tsMember {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]tsMember{}
	for _, m := range configVar.FindAllStringSubmatch(string(raw), -1) {
		typ, undef := normType(m[2])
		vars[m[1]] = tsMember{optional: undef, typ: typ}
	}
	return vars
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
