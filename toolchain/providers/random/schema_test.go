package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
)

// The npm SDK this plugin serves, found from the repository root (this folder is
// toolchain/providers/random); OPSBOOK_RANDOM_SDK overrides it.
func sdkDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("OPSBOOK_RANDOM_SDK")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "node_modules", "@pulumi", "random")
	}
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
		t.Fatalf("@pulumi/random not found at %s (run `npm ci` at the repository root): %v", dir, err)
	}
	return dir
}

// tsMember is one property of a class or interface in a .d.ts file.
type tsMember struct {
	Type       string // "integer" (TS number), "boolean", "string", "object" (map of strings)
	Optional   bool   // `name?:` or `| undefined`
	Deprecated bool
}

var (
	docComment = regexp.MustCompile(`(?s)/\*\*.*?\*/`)
	memberRe   = regexp.MustCompile(`^(?:readonly\s+)?(\w+)(\?)?:\s*pulumi\.(?:Input|Output)<(.*)>$`)
	mapTypeRe  = regexp.MustCompile(`^\{\s*\[key: string\]:\s*(?:pulumi\.Input<string>|string);?\s*\}$`)
	spaceRe    = regexp.MustCompile(`\s+`)
)

// tsBlock returns the body of `header {...}` in src.
func tsBlock(t *testing.T, src, header string) string {
	t.Helper()
	i := strings.Index(src, header)
	if i < 0 {
		t.Fatalf("%q not found in the .d.ts", header)
	}
	start := i + len(header)
	depth := 1
	for j := start; j < len(src); j++ {
		switch src[j] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return src[start:j]
			}
		}
	}
	t.Fatalf("unbalanced braces after %q", header)
	return ""
}

// tsMembers parses the property members of a class or interface body.
func tsMembers(t *testing.T, body string) map[string]tsMember {
	t.Helper()
	body = docComment.ReplaceAllStringFunc(body, func(c string) string {
		if strings.Contains(c, "@deprecated") {
			return " @@DEPRECATED@@ "
		}
		return " "
	})
	var parts []string
	depth, last := 0, 0
	for j := 0; j < len(body); j++ {
		switch body[j] {
		case '{', '<', '(':
			depth++
		case '}', '>', ')':
			depth--
		case ';':
			if depth == 0 {
				parts = append(parts, body[last:j])
				last = j + 1
			}
		}
	}
	out := map[string]tsMember{}
	for _, part := range parts {
		part = strings.TrimSpace(spaceRe.ReplaceAllString(part, " "))
		deprecated := strings.Contains(part, "@@DEPRECATED@@")
		part = strings.TrimSpace(strings.ReplaceAll(part, "@@DEPRECATED@@", ""))
		if strings.HasPrefix(part, "static ") || strings.HasPrefix(part, "constructor(") || part == "" {
			continue
		}
		m := memberRe.FindStringSubmatch(part)
		if m == nil {
			t.Errorf("unparsed .d.ts member: %q", part)
			continue
		}
		typ := strings.TrimSpace(m[3])
		optional := m[2] == "?"
		if strings.HasSuffix(typ, "| undefined") {
			optional = true
			typ = strings.TrimSpace(strings.TrimSuffix(typ, "| undefined"))
		}
		switch {
		case typ == "number":
			typ = "integer"
		case typ == "boolean", typ == "string":
		case mapTypeRe.MatchString(typ):
			typ = "object"
		default:
			t.Errorf("unknown .d.ts type %q of %s", typ, m[1])
		}
		out[m[1]] = tsMember{Type: typ, Optional: optional, Deprecated: deprecated}
	}
	return out
}

type schemaProperty struct {
	Type                 string          `json:"type"`
	Secret               bool            `json:"secret"`
	DeprecationMessage   string          `json:"deprecationMessage"`
	AdditionalProperties *schemaProperty `json:"additionalProperties"`
}

type schemaResource struct {
	Properties      map[string]schemaProperty `json:"properties"`
	Required        []string                  `json:"required"`
	InputProperties map[string]schemaProperty `json:"inputProperties"`
	RequiredInputs  []string                  `json:"requiredInputs"`
	StateInputs     struct {
		Properties map[string]schemaProperty `json:"properties"`
	} `json:"stateInputs"`
}

type packageSpec struct {
	Name      string                    `json:"name"`
	Version   string                    `json:"version"`
	Resources map[string]schemaResource `json:"resources"`
}

func schemaType(p schemaProperty) string {
	if p.Type == "object" && (p.AdditionalProperties == nil || p.AdditionalProperties.Type != "string") {
		return "object of non-strings"
	}
	if p.Type == "number" {
		return "integer" // TS has only number
	}
	return p.Type
}

func set(names []string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// compareProps reports every difference between a .d.ts member list and schema properties.
func compareProps(t *testing.T, where string, ts map[string]tsMember, schema map[string]schemaProperty, required map[string]bool) {
	t.Helper()
	for _, name := range sortedKeys(ts) {
		m := ts[name]
		p, ok := schema[name]
		if !ok {
			t.Errorf("%s: %s is in the SDK but not in the schema", where, name)
			continue
		}
		if got := schemaType(p); got != m.Type {
			t.Errorf("%s: %s has type %s in the schema, %s in the SDK", where, name, got, m.Type)
		}
		if required != nil && required[name] == m.Optional {
			t.Errorf("%s: %s is required=%v in the schema, optional=%v in the SDK", where, name, required[name], m.Optional)
		}
		if (p.DeprecationMessage != "") != m.Deprecated {
			t.Errorf("%s: %s deprecated=%v in the schema, %v in the SDK", where, name, p.DeprecationMessage != "", m.Deprecated)
		}
	}
	for _, name := range sortedKeys(schema) {
		if _, ok := ts[name]; !ok {
			t.Errorf("%s: %s is in the schema but not in the SDK", where, name)
		}
	}
}

var (
	pulumiTypeRe = regexp.MustCompile(`__pulumiType = '([^']+)'`)
	secretOutsRe = regexp.MustCompile(`additionalSecretOutputs: \[([^\]]*)\]`)
)

func TestSchemaMatchesNpmSDK(t *testing.T) {
	dir := sdkDir(t)
	var pkg struct {
		Version string `json:"version"`
		Pulumi  struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"pulumi"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &pkg); err != nil {
		t.Fatal(err)
	}
	if pkg.Pulumi.Name != providerName || pkg.Pulumi.Version != providerVersion {
		t.Errorf("the SDK asks for plugin %s %s; this plugin is %s %s", pkg.Pulumi.Name, pkg.Pulumi.Version, providerName, providerVersion)
	}

	res, err := newRandomProvider().GetSchema(ctx, plugin.GetSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var spec packageSpec
	if err := json.Unmarshal(res.Schema, &spec); err != nil {
		t.Fatalf("GetSchema returned invalid JSON: %v", err)
	}
	if spec.Name != providerName || spec.Version != providerVersion {
		t.Errorf("schema is %s %s", spec.Name, spec.Version)
	}

	// Every resource of the SDK: compared when implemented, listed when not.
	jsFiles, _ := filepath.Glob(filepath.Join(dir, "*.js"))
	sdkTokens := map[string]string{} // token -> file stem
	for _, f := range jsFiles {
		src, _ := os.ReadFile(f)
		if m := pulumiTypeRe.FindSubmatch(src); m != nil && strings.Count(string(m[1]), ":") == 2 { // not the provider type
			sdkTokens[string(m[1])] = strings.TrimSuffix(filepath.Base(f), ".js")
		}
	}
	var notImplemented []string
	for _, tok := range sortedKeys(sdkTokens) {
		if _, ok := spec.Resources[tok]; !ok {
			notImplemented = append(notImplemented, tokenName(tok))
		}
	}
	t.Logf("SDK resources this plugin does not implement: %v", notImplemented)

	for _, tok := range sortedKeys(spec.Resources) {
		r := spec.Resources[tok]
		stem, ok := sdkTokens[tok]
		if !ok {
			t.Errorf("%s is in the schema but no SDK class has that token", tok)
			continue
		}
		name := tokenName(tok)
		dts, err := os.ReadFile(filepath.Join(dir, stem+".d.ts"))
		if err != nil {
			t.Fatal(err)
		}
		src := string(dts)
		class := tsMembers(t, tsBlock(t, src, "export declare class "+name+" extends pulumi.CustomResource {"))
		args := tsMembers(t, tsBlock(t, src, "export interface "+name+"Args {"))
		state := tsMembers(t, tsBlock(t, src, "export interface "+name+"State {"))

		compareProps(t, name+" outputs", class, r.Properties, set(r.Required))
		compareProps(t, name+" inputs", args, r.InputProperties, set(r.RequiredInputs))
		compareProps(t, name+" state", state, r.StateInputs.Properties, nil)

		js, _ := os.ReadFile(filepath.Join(dir, stem+".js"))
		sdkSecrets := map[string]bool{}
		if m := secretOutsRe.FindSubmatch(js); m != nil {
			for _, s := range strings.Split(string(m[1]), ",") {
				if s = strings.Trim(strings.TrimSpace(s), `"'`); s != "" {
					sdkSecrets[s] = true
				}
			}
		}
		for _, p := range sortedKeys(r.Properties) {
			if r.Properties[p].Secret != sdkSecrets[p] {
				t.Errorf("%s: %s secret=%v in the schema, %v in the SDK (additionalSecretOutputs)", name, p, r.Properties[p].Secret, sdkSecrets[p])
			}
		}
		for s := range sdkSecrets {
			if _, ok := r.Properties[s]; !ok {
				t.Errorf("%s: SDK secret output %s missing from the schema", name, s)
			}
		}
	}
	for _, want := range []string{tokPassword, tokString, tokBytes, tokID, tokInteger} {
		if _, ok := spec.Resources[want]; !ok {
			t.Errorf("schema lacks %s", want)
		}
	}
}

// The test's own parser, checked on a snippet with the shapes the SDK uses.
func TestDtsParser(t *testing.T) {
	body := `
    /** doc with >= and { braces } */
    readonly keepers: pulumi.Output<{
        [key: string]: string;
    } | undefined>;
    /**
     * @deprecated use b
     */
    a?: pulumi.Input<boolean | undefined>;
    length: pulumi.Input<number>;
    static get(name: string, id: pulumi.Input<pulumi.ID>, state?: XState): X;
    constructor(name: string, args: XArgs, opts?: pulumi.CustomResourceOptions);`
	got := tsMembers(t, body)
	want := map[string]tsMember{
		"keepers": {Type: "object", Optional: true},
		"a":       {Type: "boolean", Optional: true, Deprecated: true},
		"length":  {Type: "integer"},
	}
	if len(got) != len(want) {
		t.Fatalf("parsed %v", got)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %+v want %+v", k, got[k], w)
		}
	}
}
