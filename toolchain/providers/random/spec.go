package main

import (
	"encoding/json"
	"sort"
)

const (
	providerName = "random"
	// providerVersion is the version of the npm SDK whose tokens this plugin implements; the engine
	// asks for exactly this version (package.json `pulumi.version` of @pulumi/random).
	providerVersion = "4.21.2"
)

// Property types, as the Pulumi package schema spells them (a map of strings is "object").
type propType string

const (
	tInteger   propType = "integer"
	tBoolean   propType = "boolean"
	tString    propType = "string"
	tStringMap propType = "object"
)

// propSpec describes one property of a resource: whether it is an input, whether an input is
// required, whether the output can be absent, whether it is secret, and its default.
type propSpec struct {
	Name        string
	Type        propType
	Input       bool
	Required    bool // required input
	MayBeAbsent bool // output that can be undefined (optional inputs without a default)
	Secret      bool
	Deprecated  string
	Default     any // filled in by Check when the input is absent (bool or float64)
	Description string
}

// resourceSpec is one resource token with its properties; the behaviour lives in resources.go.
type resourceSpec struct {
	Token       string
	Description string
	Props       []propSpec
}

func (r *resourceSpec) prop(name string) *propSpec {
	for i := range r.Props {
		if r.Props[i].Name == name {
			return &r.Props[i]
		}
	}
	return nil
}

func (r *resourceSpec) inputs() []propSpec {
	var out []propSpec
	for _, p := range r.Props {
		if p.Input {
			out = append(out, p)
		}
	}
	return out
}

const defaultSpecial = "!@#$%&*()-_=+[]{}<>:?"

var keepersProp = propSpec{
	Name: "keepers", Type: tStringMap, Input: true, MayBeAbsent: true,
	Description: "Arbitrary map of strings; any change to it replaces the resource (and so makes a new value).",
}

// stringProps are the properties shared by RandomPassword and RandomString.
func stringProps(resultSecret bool) []propSpec {
	return []propSpec{
		keepersProp,
		{Name: "length", Type: tInteger, Input: true, Required: true,
			Description: "Number of characters in the result; at least 1 and at least minUpper + minLower + minNumeric + minSpecial."},
		{Name: "lower", Type: tBoolean, Input: true, Default: true,
			Description: "Use lowercase letters. Default `true`."},
		{Name: "minLower", Type: tInteger, Input: true, Default: float64(0),
			Description: "At least this many lowercase letters. Default `0`."},
		{Name: "minNumeric", Type: tInteger, Input: true, Default: float64(0),
			Description: "At least this many digits. Default `0`."},
		{Name: "minSpecial", Type: tInteger, Input: true, Default: float64(0),
			Description: "At least this many special characters. Default `0`."},
		{Name: "minUpper", Type: tInteger, Input: true, Default: float64(0),
			Description: "At least this many uppercase letters. Default `0`."},
		{Name: "number", Type: tBoolean, Input: true, Default: true,
			Deprecated:  "**NOTE**: This is deprecated, use `numeric` instead.",
			Description: "Deprecated alias of `numeric`; the two always hold the same value."},
		{Name: "numeric", Type: tBoolean, Input: true, Default: true,
			Description: "Use digits. Default `true`. At least one of `lower`, `upper`, `numeric` and `special` must be true."},
		{Name: "overrideSpecial", Type: tString, Input: true, MayBeAbsent: true,
			Description: "The special characters to use instead of the default set; `special` must still be true."},
		{Name: "result", Type: tString, Secret: resultSecret,
			Description: "The generated value."},
		{Name: "special", Type: tBoolean, Input: true, Default: true,
			Description: "Use special characters, by default `" + defaultSpecial + "`. Default `true`."},
		{Name: "upper", Type: tBoolean, Input: true, Default: true,
			Description: "Use uppercase letters. Default `true`."},
	}
}

const (
	tokPassword = "random:index/randomPassword:RandomPassword"
	tokString   = "random:index/randomString:RandomString"
	tokBytes    = "random:index/randomBytes:RandomBytes"
	tokID       = "random:index/randomId:RandomId"
	tokInteger  = "random:index/randomInteger:RandomInteger"
	tokUUID     = "random:index/randomUuid:RandomUuid"
	tokUUID4    = "random:index/randomUuid4:RandomUuid4"
	tokUUID7    = "random:index/randomUuid7:RandomUuid7"
)

func uuidSpec(tok, what string) *resourceSpec {
	return &resourceSpec{
		Token:       tok,
		Description: "A random UUID (" + what + "), in its lowercase hyphenated form.",
		Props: []propSpec{
			keepersProp,
			{Name: "result", Type: tString, Description: "The generated UUID (" + what + ")."},
		},
	}
}

var resourceSpecs = map[string]*resourceSpec{
	tokPassword: {
		Token:       tokPassword,
		Description: "A random password: like RandomString, but its result and bcrypt hash are secrets.",
		Props: append(stringProps(true), propSpec{
			Name: "bcryptHash", Type: tString, Secret: true,
			Description: "A bcrypt hash of the result (of its first 72 bytes when it is longer).",
		}),
	},
	tokString: {
		Token:       tokString,
		Description: "A random string of letters, digits and special characters. Not secret: use RandomPassword for secrets.",
		Props:       stringProps(false),
	},
	tokBytes: {
		Token:       tokBytes,
		Description: "Random bytes, as base64 and hex (both secret).",
		Props: []propSpec{
			{Name: "base64", Type: tString, Secret: true, Description: "The bytes in standard base64 (padded)."},
			{Name: "hex", Type: tString, Secret: true, Description: "The bytes in lowercase hex: exactly twice `length` characters."},
			keepersProp,
			{Name: "length", Type: tInteger, Input: true, Required: true, Description: "Number of bytes; at least 1."},
		},
	},
	tokID: {
		Token:       tokID,
		Description: "A random identifier, in several encodings, each preceded by the optional prefix.",
		Props: []propSpec{
			{Name: "b64Std", Type: tString, Description: "prefix + the bytes in standard base64 (padded)."},
			{Name: "b64Url", Type: tString, Description: "prefix + the bytes in unpadded URL-safe base64 (letters, digits, `_` and `-`)."},
			{Name: "byteLength", Type: tInteger, Input: true, Required: true, Description: "Number of random bytes; at least 1."},
			{Name: "dec", Type: tString, Description: "prefix + the bytes as an unsigned big-endian decimal number, without leading zeros."},
			{Name: "hex", Type: tString, Description: "prefix + the bytes in lowercase hex: twice `byteLength` characters."},
			keepersProp,
			{Name: "prefix", Type: tString, Input: true, MayBeAbsent: true, Description: "A string put as-is before every encoding."},
		},
	},
	tokInteger: {
		Token:       tokInteger,
		Description: "A random integer in [min, max], uniform; deterministic when `seed` is set.",
		Props: []propSpec{
			keepersProp,
			{Name: "max", Type: tInteger, Input: true, Required: true, Description: "The largest possible result (inclusive)."},
			{Name: "min", Type: tInteger, Input: true, Required: true, Description: "The smallest possible result (inclusive)."},
			{Name: "result", Type: tInteger, Description: "The random integer."},
			{Name: "seed", Type: tString, Input: true, MayBeAbsent: true, Description: "When set, the same seed, min and max always give the same result."},
		},
	},
	tokUUID:  uuidSpec(tokUUID, "version 4, random"),
	tokUUID4: uuidSpec(tokUUID4, "version 4, random"),
	tokUUID7: uuidSpec(tokUUID7, "version 7, time-ordered"),
}

func sortedTokens() []string {
	toks := make([]string, 0, len(resourceSpecs))
	for t := range resourceSpecs {
		toks = append(toks, t)
	}
	sort.Strings(toks)
	return toks
}

// --- Pulumi package schema -------------------------------------------------------------------

func schemaProp(p propSpec) map[string]any {
	s := map[string]any{"type": string(p.Type), "description": p.Description}
	if p.Type == tStringMap {
		s["additionalProperties"] = map[string]any{"type": "string"}
	}
	if p.Secret {
		s["secret"] = true
	}
	if p.Deprecated != "" {
		s["deprecationMessage"] = p.Deprecated
	}
	return s
}

func resourceSchema(r *resourceSpec) map[string]any {
	props := map[string]any{}
	inputs := map[string]any{}
	state := map[string]any{}
	required := []string{}
	requiredInputs := []string{}
	for _, p := range r.Props {
		props[p.Name] = schemaProp(p)
		state[p.Name] = schemaProp(p)
		if !p.MayBeAbsent {
			required = append(required, p.Name)
		}
		if p.Input {
			inputs[p.Name] = schemaProp(p)
			if p.Required {
				requiredInputs = append(requiredInputs, p.Name)
			}
		}
	}
	return map[string]any{
		"description":     r.Description,
		"properties":      props,
		"required":        required,
		"inputProperties": inputs,
		"requiredInputs":  requiredInputs,
		"stateInputs": map[string]any{
			"description": "Input properties used for looking up and filtering " + tokenName(r.Token) + " resources.",
			"properties":  state,
			"type":        "object",
		},
	}
}

func tokenName(tok string) string {
	for i := len(tok) - 1; i >= 0; i-- {
		if tok[i] == ':' {
			return tok[i+1:]
		}
	}
	return tok
}

// packageSchema returns the Pulumi package schema (JSON) of the resources this plugin implements.
func packageSchema() []byte {
	resources := map[string]any{}
	for _, tok := range sortedTokens() {
		resources[tok] = resourceSchema(resourceSpecs[tok])
	}
	s := map[string]any{
		"name":        providerName,
		"displayName": "random",
		"version":     providerVersion,
		"description": "Random values (passwords, strings, bytes, ids, integers) kept in the state until an input changes.",
		"keywords":    []string{"pulumi", "random"},
		"license":     "Apache-2.0",
		"meta":        map[string]any{"moduleFormat": "(.*)(?:/[^/]*)"},
		"config":      map[string]any{},
		"provider": map[string]any{
			"description": "The provider type for the random package. It takes no configuration.",
			"type":        "object",
		},
		"resources": resources,
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}
