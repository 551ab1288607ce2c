package main

import (
	"context"
	"encoding/base64"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/bcrypt"
)

var ctx = context.Background()

func urnOf(tok string) resource.URN {
	return resource.NewURN("dev", "proj", "", tokens.Type(tok), "r")
}

func props(m map[string]any) resource.PropertyMap { return resource.NewPropertyMapFromMap(m) }

func check(t *testing.T, tok string, news resource.PropertyMap) plugin.CheckResponse {
	t.Helper()
	res, err := newRandomProvider().Check(ctx, plugin.CheckRequest{URN: urnOf(tok), Type: tokens.Type(tok), News: news})
	if err != nil {
		t.Fatalf("Check %s: %v", tok, err)
	}
	return res
}

// checked runs Check and fails the test on any failure.
func checked(t *testing.T, tok string, news map[string]any) resource.PropertyMap {
	t.Helper()
	res := check(t, tok, props(news))
	if len(res.Failures) > 0 {
		t.Fatalf("Check %s %v: unexpected failures %+v", tok, news, res.Failures)
	}
	return res.Properties
}

func create(t *testing.T, tok string, inputs resource.PropertyMap) (resource.ID, resource.PropertyMap) {
	t.Helper()
	res, err := newRandomProvider().Create(ctx, plugin.CreateRequest{URN: urnOf(tok), Type: tokens.Type(tok), Properties: inputs})
	if err != nil {
		t.Fatalf("Create %s: %v", tok, err)
	}
	return res.ID, res.Properties
}

func str(t *testing.T, m resource.PropertyMap, k string) string {
	t.Helper()
	v := unwrap(m[resource.PropertyKey(k)])
	if !v.IsString() {
		t.Fatalf("output %s is not a string: %v", k, m[resource.PropertyKey(k)])
	}
	return v.StringValue()
}

func TestCheckRejectsInvalidInputsNamingTheProperty(t *testing.T) {
	cases := []struct {
		tok      string
		news     map[string]any
		property string
		reason   string
	}{
		{tokPassword, map[string]any{}, "length", "missing required property 'length'"},
		{tokPassword, map[string]any{"length": 0.0}, "length", "at least 1"},
		{tokString, map[string]any{"length": 2.5}, "length", "whole number"},
		{tokString, map[string]any{"length": "8"}, "length", "whole number"},
		{tokPassword, map[string]any{"length": 4.0, "minUpper": 2.0, "minLower": 2.0, "minNumeric": 1.0}, "length", "minUpper + minLower + minNumeric + minSpecial (5)"},
		{tokString, map[string]any{"length": 8.0, "minSpecial": -1.0}, "minSpecial", "0 or more"},
		{tokString, map[string]any{"length": 8.0, "upper": false, "minUpper": 1.0}, "minUpper", "upper is false"},
		{tokString, map[string]any{"length": 8.0, "number": false, "minNumeric": 2.0}, "minNumeric", "numeric is false"},
		{tokString, map[string]any{"length": 8.0, "overrideSpecial": "", "minSpecial": 1.0}, "overrideSpecial", "empty"},
		{tokString, map[string]any{"length": 8.0, "lower": false, "upper": false, "numeric": false, "special": false}, "lower", "at least one must be true"},
		{tokString, map[string]any{"length": 8.0, "number": true, "numeric": false}, "number", "deprecated alias"},
		{tokString, map[string]any{"length": 8.0, "lower": "yes"}, "lower", "true or false"},
		{tokString, map[string]any{"length": 8.0, "keepers": map[string]any{"a": 1.0}}, "keepers", "map of strings"},
		{tokString, map[string]any{"length": 8.0, "minlower": 1.0}, "minlower", "not an input of RandomString"},
		{tokPassword, map[string]any{"length": 8.0, "result": "x"}, "result", "not an input"},
		{tokBytes, map[string]any{}, "length", "missing required property 'length'"},
		{tokBytes, map[string]any{"length": 0.0}, "length", "at least 1"},
		{tokID, map[string]any{"byteLength": 0.0}, "byteLength", "at least 1"},
		{tokID, map[string]any{"byteLength": 4.0, "prefix": 3.0}, "prefix", "must be a string"},
		{tokInteger, map[string]any{"min": 1.0}, "max", "missing required property 'max'"},
		{tokInteger, map[string]any{"max": 1.0}, "min", "missing required property 'min'"},
		{tokInteger, map[string]any{"min": 5.0, "max": 4.0}, "max", "greater than or equal to min (5)"},
		{tokInteger, map[string]any{"min": 0.5, "max": 4.0}, "min", "whole number"},
	}
	for _, c := range cases {
		res := check(t, c.tok, props(c.news))
		found := false
		for _, f := range res.Failures {
			if string(f.Property) == c.property && strings.Contains(f.Reason, c.reason) && strings.Contains(f.Reason, c.property) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s %v: want a failure on %q containing %q, got %+v", tokenName(c.tok), c.news, c.property, c.reason, res.Failures)
		}
	}
}

func TestCheckFillsDefaultsAndKeepsNumberInSync(t *testing.T) {
	in := checked(t, tokPassword, map[string]any{"length": 12.0})
	for _, k := range []string{"lower", "upper", "numeric", "number", "special"} {
		if v := in[resource.PropertyKey(k)]; !v.IsBool() || !v.BoolValue() {
			t.Errorf("default %s: got %v, want true", k, v)
		}
	}
	for _, k := range []string{"minLower", "minUpper", "minNumeric", "minSpecial"} {
		if v := in[resource.PropertyKey(k)]; !v.IsNumber() || v.NumberValue() != 0 {
			t.Errorf("default %s: got %v, want 0", k, v)
		}
	}
	if _, ok := in["overrideSpecial"]; ok {
		t.Errorf("overrideSpecial set by default")
	}
	in = checked(t, tokString, map[string]any{"length": 12.0, "number": false})
	if in["numeric"].BoolValue() {
		t.Errorf("number=false did not carry over to numeric")
	}
	in = checked(t, tokString, map[string]any{"length": 12.0, "numeric": false})
	if in["number"].BoolValue() {
		t.Errorf("numeric=false did not carry over to number")
	}
	// Bookkeeping keys of other providers (the bridge's __defaults) are dropped, not rejected.
	in = checked(t, tokString, map[string]any{"length": 12.0, "__defaults": []any{}})
	if _, ok := in["__defaults"]; ok {
		t.Errorf("__defaults kept")
	}
}

func TestCheckPassesUnknownsInPreview(t *testing.T) {
	news := props(map[string]any{"length": 4.0})
	news["minUpper"] = resource.MakeComputed(resource.NewNumberProperty(0))
	news["keepers"] = resource.NewObjectProperty(resource.PropertyMap{"k": resource.MakeComputed(resource.NewStringProperty(""))})
	if res := check(t, tokPassword, news); len(res.Failures) > 0 {
		t.Errorf("unknown values must pass Check: %+v", res.Failures)
	}
}

func TestCreateOutputsAllSDKProperties(t *testing.T) {
	for tok, news := range map[string]map[string]any{
		tokPassword: {"length": 20.0, "minSpecial": 2.0, "overrideSpecial": "-_", "keepers": map[string]any{"k": "v"}},
		tokString:   {"length": 20.0, "special": false},
		tokBytes:    {"length": 16.0},
		tokID:       {"byteLength": 8.0, "prefix": "p-"},
		tokInteger:  {"min": 1.0, "max": 10.0, "seed": "s"},
		tokUUID:     {"keepers": map[string]any{"k": "v"}},
		tokUUID4:    {},
		tokUUID7:    {},
	} {
		_, out := create(t, tok, checked(t, tok, news))
		for _, p := range resourceSpecs[tok].Props {
			if _, ok := out[resource.PropertyKey(p.Name)]; !ok && !p.MayBeAbsent {
				t.Errorf("%s: output %s missing", tokenName(tok), p.Name)
			}
		}
		for k, v := range news {
			if _, ok := out[resource.PropertyKey(k)]; !ok {
				t.Errorf("%s: input %s=%v not in the outputs", tokenName(tok), k, v)
			}
		}
	}
}

func TestCreatePasswordAndString(t *testing.T) {
	id, out := create(t, tokPassword, checked(t, tokPassword, map[string]any{
		"length": 30.0, "minUpper": 5.0, "minNumeric": 5.0, "minSpecial": 5.0, "overrideSpecial": "#%",
	}))
	if id != "none" {
		t.Errorf("RandomPassword id %q, want none (the id must not reveal the password)", id)
	}
	pw := str(t, out, "result")
	if len(pw) != 30 || countIn(pw, upperChars) < 5 || countIn(pw, numericChars) < 5 || countIn(pw, "#%") < 5 {
		t.Errorf("password %q breaks its rules", pw)
	}
	if countIn(pw, lowerChars+upperChars+numericChars+"#%") != 30 {
		t.Errorf("password %q has characters outside its classes", pw)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(str(t, out, "bcryptHash")), []byte(pw)); err != nil {
		t.Errorf("bcryptHash does not verify against result: %v", err)
	}
	id, out = create(t, tokString, checked(t, tokString, map[string]any{"length": 10.0, "special": false, "upper": false}))
	s := str(t, out, "result")
	if string(id) != s || countIn(s, lowerChars+numericChars) != 10 {
		t.Errorf("RandomString id %q result %q", id, s)
	}
}

func TestCreateBytesAndIDEncodings(t *testing.T) {
	_, out := create(t, tokBytes, checked(t, tokBytes, map[string]any{"length": 24.0}))
	raw, err := base64.StdEncoding.DecodeString(str(t, out, "base64"))
	if err != nil || len(raw) != 24 {
		t.Fatalf("base64 %q: %v", str(t, out, "base64"), err)
	}
	if b64, hx := bytesEncodings(raw); hx != str(t, out, "hex") || b64 != str(t, out, "base64") {
		t.Errorf("RandomBytes base64 and hex disagree: %v", out)
	}
	id, out := create(t, tokID, checked(t, tokID, map[string]any{"byteLength": 6.0, "prefix": "web-"}))
	raw, err = base64.RawURLEncoding.DecodeString(string(id))
	if err != nil || len(raw) != 6 {
		t.Fatalf("RandomId id %q: %v", id, err)
	}
	e := encodeID("web-", raw)
	if str(t, out, "b64Url") != e.B64URL || str(t, out, "b64Std") != e.B64Std || str(t, out, "hex") != e.Hex || str(t, out, "dec") != e.Dec {
		t.Errorf("RandomId encodings disagree with each other: %v (want %+v)", out, e)
	}
}

func TestCreateIntegerSeeded(t *testing.T) {
	in := checked(t, tokInteger, map[string]any{"min": 8000.0, "max": 8999.0, "seed": "api"})
	id1, out1 := create(t, tokInteger, in)
	id2, out2 := create(t, tokInteger, in)
	r := out1["result"].NumberValue()
	if id1 != id2 || r != out2["result"].NumberValue() {
		t.Errorf("seeded RandomInteger not deterministic: %s/%v and %s/%v", id1, r, id2, out2["result"])
	}
	if r < 8000 || r > 8999 || r != float64(int64(r)) {
		t.Errorf("result %v outside [8000, 8999] or not whole", r)
	}
}

func TestSecretOutputsMarked(t *testing.T) {
	secret := map[string][]string{tokPassword: {"result", "bcryptHash"}, tokBytes: {"base64", "hex"}}
	for tok, news := range map[string]map[string]any{
		tokPassword: {"length": 10.0}, tokString: {"length": 10.0}, tokBytes: {"length": 4.0},
		tokID: {"byteLength": 4.0}, tokInteger: {"min": 1.0, "max": 2.0}, tokUUID: {}, tokUUID7: {},
	} {
		_, out := create(t, tok, checked(t, tok, news))
		want := map[string]bool{}
		for _, k := range secret[tok] {
			want[k] = true
		}
		for k, v := range out {
			if isSecret(v) != want[string(k)] {
				t.Errorf("%s.%s: secret=%v, want %v", tokenName(tok), k, isSecret(v), want[string(k)])
			}
		}
	}
	// A secret input stays secret in the outputs.
	news := props(map[string]any{"length": 8.0})
	news["keepers"] = resource.MakeSecret(resource.NewObjectProperty(props(map[string]any{"k": "v"})))
	res := check(t, tokString, news)
	if len(res.Failures) > 0 {
		t.Fatalf("secret keepers: %+v", res.Failures)
	}
	_, out := create(t, tokString, res.Properties)
	if !isSecret(out["keepers"]) {
		t.Errorf("secret keepers lost their secrecy in the outputs")
	}
}

// Through the gRPC server: secrets reach an engine that accepts them as secrets, and an engine
// that does not gets plain values.
func TestSecretsOnTheWire(t *testing.T) {
	for _, accept := range []bool{true, false} {
		srv := plugin.NewProviderServer(newRandomProvider())
		if _, err := srv.Configure(ctx, &pulumirpc.ConfigureRequest{AcceptSecrets: accept, AcceptResources: true}); err != nil {
			t.Fatal(err)
		}
		args, err := plugin.MarshalProperties(props(map[string]any{"length": 12.0}), plugin.MarshalOptions{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := srv.Create(ctx, &pulumirpc.CreateRequest{Urn: string(urnOf(tokPassword)), Type: tokPassword, Properties: args})
		if err != nil {
			t.Fatal(err)
		}
		out, err := plugin.UnmarshalProperties(res.Properties, plugin.MarshalOptions{KeepSecrets: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []resource.PropertyKey{"result", "bcryptHash"} {
			if out[k].IsSecret() != accept {
				t.Errorf("engine accepts secrets=%v: %s sent as secret=%v", accept, k, out[k].IsSecret())
			}
		}
		if out["length"].IsSecret() {
			t.Errorf("length sent as a secret")
		}
	}
}

func diff(t *testing.T, tok string, olds, news resource.PropertyMap, ignore ...string) plugin.DiffResult {
	t.Helper()
	res, err := newRandomProvider().Diff(ctx, plugin.DiffRequest{
		URN: urnOf(tok), Type: tokens.Type(tok), ID: "x", OldInputs: olds, OldOutputs: olds, NewInputs: news, IgnoreChanges: ignore,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func replaceKeys(d plugin.DiffResult) []string {
	var ks []string
	for _, k := range d.ReplaceKeys {
		ks = append(ks, string(k))
	}
	sort.Strings(ks)
	return ks
}

func TestDiffEveryInputChangeReplaces(t *testing.T) {
	base := map[string]map[string]any{
		tokPassword: {"length": 16.0, "keepers": map[string]any{"rotation": "1"}},
		tokString:   {"length": 16.0},
		tokBytes:    {"length": 16.0},
		tokID:       {"byteLength": 8.0},
		tokInteger:  {"min": 1.0, "max": 10.0},
		tokUUID:     {"keepers": map[string]any{"a": "b"}},
		tokUUID7:    {},
	}
	changes := map[string]map[string]any{
		tokPassword: {"keepers": map[string]any{"rotation": "2"}, "length": 17.0, "lower": false, "upper": false, "numeric": false,
			"special": false, "minLower": 1.0, "minUpper": 1.0, "minNumeric": 1.0, "minSpecial": 1.0, "overrideSpecial": "-"},
		tokString:  {"keepers": map[string]any{"a": "b"}, "length": 3.0, "overrideSpecial": "!"},
		tokBytes:   {"keepers": map[string]any{"a": "b"}, "length": 32.0},
		tokID:      {"keepers": map[string]any{"a": "b"}, "byteLength": 4.0, "prefix": "x-"},
		tokInteger: {"keepers": map[string]any{"a": "b"}, "min": 2.0, "max": 11.0, "seed": "s"},
		tokUUID:    {"keepers": map[string]any{"a": "c"}},
		tokUUID7:   {"keepers": map[string]any{"a": "c"}},
	}
	for tok, b := range base {
		olds := checked(t, tok, b)
		if d := diff(t, tok, olds, checked(t, tok, b)); d.Changes != plugin.DiffNone {
			t.Errorf("%s: same inputs gave %+v, want no change", tokenName(tok), d)
		}
		for k, v := range changes[tok] {
			n := map[string]any{}
			for bk, bv := range b {
				n[bk] = bv
			}
			n[k] = v
			d := diff(t, tok, olds, checked(t, tok, n))
			want := []string{k}
			if k == "numeric" {
				want = []string{"number", "numeric"} // the alias follows
			}
			if d.Changes != plugin.DiffSome || strings.Join(replaceKeys(d), ",") != strings.Join(want, ",") {
				t.Errorf("%s: %s -> %v gave changes=%v replaces=%v, want replaces %v", tokenName(tok), k, v, d.Changes, replaceKeys(d), want)
			}
		}
	}
	// Removing the keepers replaces; an explicit default does not.
	olds := checked(t, tokPassword, base[tokPassword])
	if d := diff(t, tokPassword, olds, checked(t, tokPassword, map[string]any{"length": 16.0})); strings.Join(replaceKeys(d), ",") != "keepers" {
		t.Errorf("keepers removed: replaces %v", replaceKeys(d))
	}
	if d := diff(t, tokPassword, olds, checked(t, tokPassword, map[string]any{"length": 16.0, "special": true, "keepers": map[string]any{"rotation": "1"}})); d.Changes != plugin.DiffNone {
		t.Errorf("special: true written out (the default): %+v", d)
	}
	// A change ignored by the program's ignoreChanges is not reported.
	if d := diff(t, tokString, checked(t, tokString, map[string]any{"length": 16.0}), checked(t, tokString, map[string]any{"length": 17.0}), "length"); d.Changes != plugin.DiffNone {
		t.Errorf("ignored change of length: %+v", d)
	}
	// Unknown keepers in a preview: a replacement.
	news := checked(t, tokString, map[string]any{"length": 16.0})
	news["keepers"] = resource.MakeComputed(resource.NewStringProperty(""))
	if d := diff(t, tokString, checked(t, tokString, map[string]any{"length": 16.0, "keepers": map[string]any{"a": "b"}}), news); strings.Join(replaceKeys(d), ",") != "keepers" {
		t.Errorf("unknown keepers: replaces %v", replaceKeys(d))
	}
	// Secrecy alone is no change.
	sec := checked(t, tokString, map[string]any{"length": 16.0})
	sec["length"] = resource.MakeSecret(sec["length"])
	if d := diff(t, tokString, checked(t, tokString, map[string]any{"length": 16.0}), sec); d.Changes != plugin.DiffNone {
		t.Errorf("length made secret: %+v", d)
	}
}

func TestReadReturnsStateUnchangedAndDeleteIsNoOp(t *testing.T) {
	p := newRandomProvider()
	in := checked(t, tokPassword, map[string]any{"length": 12.0})
	id, out := create(t, tokPassword, in)
	res, err := p.Read(ctx, plugin.ReadRequest{URN: urnOf(tokPassword), Type: tokPassword, ID: id, Inputs: in, State: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != id || !res.Outputs.DeepEquals(out) || !res.Inputs.DeepEquals(in) {
		t.Errorf("Read changed the state: %+v", res)
	}
	if _, err := p.Delete(ctx, plugin.DeleteRequest{URN: urnOf(tokPassword), Type: tokPassword, ID: id, Inputs: in, Outputs: out}); err != nil {
		t.Errorf("Delete: %v", err)
	}
}

func TestImport(t *testing.T) {
	p := newRandomProvider()
	read := func(tok, id string) plugin.ReadResponse {
		t.Helper()
		res, err := p.Read(ctx, plugin.ReadRequest{URN: urnOf(tok), Type: tokens.Type(tok), ID: resource.ID(id)})
		if err != nil {
			t.Fatalf("import %s %q: %v", tokenName(tok), id, err)
		}
		return res
	}
	r := read(tokPassword, "s3cret-Pass")
	if r.ID != "none" || str(t, r.Outputs, "result") != "s3cret-Pass" || r.Inputs["length"].NumberValue() != 11 {
		t.Errorf("password import: %+v", r)
	}
	if bcrypt.CompareHashAndPassword([]byte(str(t, r.Outputs, "bcryptHash")), []byte("s3cret-Pass")) != nil {
		t.Errorf("imported password's bcryptHash does not verify")
	}
	if !isSecret(r.Outputs["result"]) {
		t.Errorf("imported password result not secret")
	}
	r = read(tokBytes, "8/fu3q+2DcgSJ19i0jZ5Cw==")
	if r.Inputs["length"].NumberValue() != 16 || str(t, r.Outputs, "hex") != "f3f7eedeafb60dc812275f62d236790b" {
		t.Errorf("bytes import: %+v", r)
	}
	r = read(tokID, "my-prefix-,p-9hUg")
	if str(t, r.Outputs, "b64Url") != "my-prefix-p-9hUg" || r.ID != "p-9hUg" || str(t, r.Outputs, "hex") != "my-prefix-a7ef6152" || r.Inputs["byteLength"].NumberValue() != 4 {
		t.Errorf("id import: %+v", r)
	}
	r = read(tokInteger, "15390,1,50000")
	if r.ID != "15390" || r.Outputs["result"].NumberValue() != 15390 || r.Inputs["max"].NumberValue() != 50000 {
		t.Errorf("integer import: %+v", r)
	}
	r = read(tokUUID, "6A2F41A3-C54C-FCE8-32D2-0324E1C32E22")
	if r.ID != "6a2f41a3-c54c-fce8-32d2-0324e1c32e22" || str(t, r.Outputs, "result") != string(r.ID) {
		t.Errorf("uuid import: %+v", r)
	}
	if _, err := p.Read(ctx, plugin.ReadRequest{URN: urnOf(tokInteger), Type: tokInteger, ID: "5,10,20"}); err == nil {
		t.Errorf("integer import out of range: want an error")
	}
}

func TestUnimplementedTokenIsAClearError(t *testing.T) {
	tok := "random:index/randomPet:RandomPet" // not implemented: its word lists would have to be written first
	_, err := newRandomProvider().Check(ctx, plugin.CheckRequest{URN: urnOf(tok), Type: tokens.Type(tok), News: props(map[string]any{})})
	if err == nil || !strings.Contains(err.Error(), "not implemented") || !strings.Contains(err.Error(), tokPassword) {
		t.Errorf("unimplemented token: %v", err)
	}
}
