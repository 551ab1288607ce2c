package main

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
)

var uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func failure(prop, format string, args ...any) plugin.CheckFailure {
	return plugin.CheckFailure{Property: resource.PropertyKey(prop), Reason: fmt.Sprintf(format, args...)}
}

// checkInputs validates the inputs of a resource and returns them with defaults filled in.
// Values not known yet (a preview) pass; they are checked again when known.
func checkInputs(spec *resourceSpec, news resource.PropertyMap) (resource.PropertyMap, []plugin.CheckFailure) {
	out := resource.PropertyMap{}
	var failures []plugin.CheckFailure
	var inputNames []string
	for _, p := range spec.inputs() {
		inputNames = append(inputNames, p.Name)
	}
	keys := make([]string, 0, len(news))
	for k := range news {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := news[resource.PropertyKey(k)]
		if strings.HasPrefix(k, "__") { // engine/bridge bookkeeping such as __defaults
			continue
		}
		p := spec.prop(k)
		if p == nil || !p.Input {
			failures = append(failures, failure(k, "%s is not an input of %s; its inputs are %s",
				k, tokenName(spec.Token), strings.Join(inputNames, ", ")))
			continue
		}
		if msg := checkType(*p, v); msg != "" {
			failures = append(failures, failure(k, "%s", msg))
			continue
		}
		out[resource.PropertyKey(k)] = v
	}
	for _, p := range spec.inputs() {
		if p.Required && !present(news, p.Name) {
			failures = append(failures, failure(p.Name, "missing required property '%s'", p.Name))
		}
	}
	switch spec.Token {
	case tokPassword, tokString:
		failures = append(failures, checkStringInputs(out)...)
	case tokBytes:
		if n, ok := knownInt(out, "length"); ok && n < 1 {
			failures = append(failures, failure("length", "length must be at least 1, not %d", n))
		}
	case tokID:
		if n, ok := knownInt(out, "byteLength"); ok && n < 1 {
			failures = append(failures, failure("byteLength", "byteLength must be at least 1, not %d", n))
		}
	case tokInteger:
		lo, okLo := knownInt(out, "min")
		hi, okHi := knownInt(out, "max")
		if okLo && okHi && hi < lo {
			failures = append(failures, failure("max", "max (%d) must be greater than or equal to min (%d)", hi, lo))
		}
	}
	for _, p := range spec.inputs() {
		if p.Default != nil && !present(out, p.Name) {
			out[resource.PropertyKey(p.Name)] = resource.NewPropertyValue(p.Default)
		}
	}
	return out, failures
}

// checkStringInputs applies the rules of RandomString/RandomPassword and keeps `number` and
// `numeric` (its deprecated alias) equal: the one that is set gives its value to the other.
func checkStringInputs(in resource.PropertyMap) []plugin.CheckFailure {
	var fs []plugin.CheckFailure
	numberSet, numericSet := present(in, "number"), present(in, "numeric")
	switch {
	case numberSet && numericSet:
		a, okA := knownBool(in, "number")
		b, okB := knownBool(in, "numeric")
		if okA && okB && a != b {
			fs = append(fs, failure("number",
				"number (%v) and numeric (%v) differ; number is a deprecated alias of numeric: set only numeric", a, b))
		}
	case numberSet:
		in["numeric"] = in["number"]
	case numericSet:
		in["number"] = in["numeric"]
	}

	length, lengthKnown := knownInt(in, "length")
	if lengthKnown && length < 1 {
		fs = append(fs, failure("length", "length must be at least 1, not %d", length))
	}
	mins := []struct{ min, class, what string }{
		{"minLower", "lower", "lowercase letters"},
		{"minUpper", "upper", "uppercase letters"},
		{"minNumeric", "numeric", "digits"},
		{"minSpecial", "special", "special characters"},
	}
	sum, sumKnown := int64(0), true
	enabled := map[string]*bool{} // nil: not known yet
	for _, m := range mins {
		on := true
		enabled[m.class] = &on
		if present(in, m.class) {
			if b, ok := knownBool(in, m.class); ok {
				on = b
			} else {
				enabled[m.class] = nil
			}
		}
		n, ok := int64(0), true
		if present(in, m.min) {
			n, ok = knownInt(in, m.min)
		}
		if !ok {
			sumKnown = false
			continue
		}
		if n < 0 {
			fs = append(fs, failure(m.min, "%s must be 0 or more, not %d", m.min, n))
			continue
		}
		sum += n
		if e := enabled[m.class]; e != nil && !*e && n > 0 {
			fs = append(fs, failure(m.min, "%s is %d but %s is false: no %s can be used; set %s to true or %s to 0",
				m.min, n, m.class, m.what, m.class, m.min))
		}
	}
	if lengthKnown && sumKnown && sum > length {
		fs = append(fs, failure("length",
			"length (%d) must be at least minUpper + minLower + minNumeric + minSpecial (%d)", length, sum))
	}

	// The special set is empty when overrideSpecial is the empty string.
	specialEmpty := false
	if present(in, "overrideSpecial") {
		s, ok := knownString(in, "overrideSpecial")
		specialEmpty = ok && s == ""
	}
	if e := enabled["special"]; e != nil && *e && specialEmpty {
		if n, ok := knownInt(in, "minSpecial"); ok && n > 0 {
			fs = append(fs, failure("overrideSpecial",
				"overrideSpecial is empty, so no special characters can be used, but minSpecial is %d", n))
		}
	}
	allOff := true
	for _, c := range []string{"lower", "upper", "numeric", "special"} {
		e := enabled[c]
		if e == nil || (*e && !(c == "special" && specialEmpty)) {
			allOff = false
		}
	}
	if allOff {
		fs = append(fs, failure("lower",
			"lower, upper, numeric and special are all false (or special has an empty overrideSpecial): at least one must be true"))
	}
	return fs
}

// stringParamsOf reads checked, known inputs.
func stringParamsOf(in resource.PropertyMap) (stringParams, error) {
	var p stringParams
	ints := map[string]*int{"length": &p.Length, "minLower": &p.MinLower, "minUpper": &p.MinUpper,
		"minNumeric": &p.MinNumeric, "minSpecial": &p.MinSpecial}
	for name, dst := range ints {
		n, ok := knownInt(in, name)
		if !ok {
			if name == "length" {
				return p, fmt.Errorf("length is not set")
			}
			n = 0
		}
		*dst = int(n)
	}
	bools := map[string]*bool{"lower": &p.Lower, "upper": &p.Upper, "numeric": &p.Numeric, "special": &p.Special}
	for name, dst := range bools {
		b, ok := knownBool(in, name)
		if !ok {
			b = true
		}
		*dst = b
	}
	if s, ok := knownString(in, "overrideSpecial"); ok {
		p.OverrideSpecial, p.HasOverride = s, true
	}
	return p, nil
}

// outputsFrom starts a resource's outputs from its checked inputs (secret markers kept).
func outputsFrom(spec *resourceSpec, inputs resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for _, p := range spec.inputs() {
		if v, ok := inputs[resource.PropertyKey(p.Name)]; ok && !v.IsNull() {
			out[resource.PropertyKey(p.Name)] = v
		} else if p.Default != nil {
			out[resource.PropertyKey(p.Name)] = resource.NewPropertyValue(p.Default)
		}
	}
	return out
}

// setOutput stores a generated value, as a secret when the SDK marks the output secret.
func setOutput(spec *resourceSpec, out resource.PropertyMap, name string, v resource.PropertyValue) {
	if p := spec.prop(name); p != nil && p.Secret {
		v = resource.MakeSecret(v)
	}
	out[resource.PropertyKey(name)] = v
}

// generate makes the values of a new resource from its checked inputs.
func generate(spec *resourceSpec, inputs resource.PropertyMap) (resource.ID, resource.PropertyMap, error) {
	out := outputsFrom(spec, inputs)
	switch spec.Token {
	case tokPassword, tokString:
		p, err := stringParamsOf(inputs)
		if err != nil {
			return "", nil, err
		}
		s, err := generateString(randReader, p)
		if err != nil {
			return "", nil, err
		}
		setOutput(spec, out, "result", resource.NewStringProperty(s))
		if spec.Token == tokString {
			return resource.ID(s), out, nil
		}
		h, err := bcryptHash(s)
		if err != nil {
			return "", nil, err
		}
		setOutput(spec, out, "bcryptHash", resource.NewStringProperty(h))
		return "none", out, nil
	case tokBytes:
		n, ok := knownInt(inputs, "length")
		if !ok {
			return "", nil, fmt.Errorf("length is not set")
		}
		b, err := randomBytes(int(n))
		if err != nil {
			return "", nil, err
		}
		setBytesOutputs(spec, out, b)
		return "none", out, nil
	case tokID:
		n, ok := knownInt(inputs, "byteLength")
		if !ok {
			return "", nil, fmt.Errorf("byteLength is not set")
		}
		b, err := randomBytes(int(n))
		if err != nil {
			return "", nil, err
		}
		prefix, _ := knownString(inputs, "prefix")
		return setIDOutputs(spec, out, prefix, b), out, nil
	case tokInteger:
		lo, okLo := knownInt(inputs, "min")
		hi, okHi := knownInt(inputs, "max")
		if !okLo || !okHi {
			return "", nil, fmt.Errorf("min and max must be set")
		}
		var seed *string
		if s, ok := knownString(inputs, "seed"); ok {
			seed = &s
		}
		r, err := randomInteger(lo, hi, seed)
		if err != nil {
			return "", nil, err
		}
		setOutput(spec, out, "result", resource.NewNumberProperty(float64(r)))
		return resource.ID(strconv.FormatInt(r, 10)), out, nil
	case tokUUID, tokUUID4, tokUUID7:
		version := 4
		if spec.Token == tokUUID7 {
			version = 7
		}
		u, err := newUUID(version, time.Now())
		if err != nil {
			return "", nil, err
		}
		setOutput(spec, out, "result", resource.NewStringProperty(u))
		return resource.ID(u), out, nil
	}
	return "", nil, fmt.Errorf("unsupported resource type %s", spec.Token)
}

func setBytesOutputs(spec *resourceSpec, out resource.PropertyMap, b []byte) {
	b64, hx := bytesEncodings(b)
	setOutput(spec, out, "base64", resource.NewStringProperty(b64))
	setOutput(spec, out, "hex", resource.NewStringProperty(hx))
}

func setIDOutputs(spec *resourceSpec, out resource.PropertyMap, prefix string, b []byte) resource.ID {
	e := encodeID(prefix, b)
	setOutput(spec, out, "b64Url", resource.NewStringProperty(e.B64URL))
	setOutput(spec, out, "b64Std", resource.NewStringProperty(e.B64Std))
	setOutput(spec, out, "hex", resource.NewStringProperty(e.Hex))
	setOutput(spec, out, "dec", resource.NewStringProperty(e.Dec))
	return resource.ID(base64.RawURLEncoding.EncodeToString(b))
}

// previewOutputs are the outputs of a resource not created yet: inputs as given, results unknown.
func previewOutputs(spec *resourceSpec, inputs resource.PropertyMap) resource.PropertyMap {
	out := outputsFrom(spec, inputs)
	for _, p := range spec.Props {
		if p.Input {
			continue
		}
		var zero resource.PropertyValue
		if p.Type == tInteger {
			zero = resource.NewNumberProperty(0)
		} else {
			zero = resource.NewStringProperty("")
		}
		out[resource.PropertyKey(p.Name)] = resource.MakeComputed(zero)
	}
	return out
}

// importState turns the ID given to `pulumi import` into inputs and outputs, in the formats the
// SDK documents: the value itself (RandomPassword, RandomString), base64 (RandomBytes),
// "[prefix,]b64Url" (RandomId), "result,min,max[,seed]" (RandomInteger).
func importState(spec *resourceSpec, id string) (resource.ID, resource.PropertyMap, resource.PropertyMap, error) {
	inputs := resource.PropertyMap{}
	out := resource.PropertyMap{}
	switch spec.Token {
	case tokPassword, tokString:
		if id == "" {
			return "", nil, nil, fmt.Errorf("import ID must be the existing value")
		}
		inputs["length"] = resource.NewNumberProperty(float64(utf8.RuneCountInString(id)))
		inputs, _ = checkInputs(spec, inputs)
		out = outputsFrom(spec, inputs)
		setOutput(spec, out, "result", resource.NewStringProperty(id))
		if spec.Token == tokString {
			return resource.ID(id), inputs, out, nil
		}
		h, err := bcryptHash(id)
		if err != nil {
			return "", nil, nil, err
		}
		setOutput(spec, out, "bcryptHash", resource.NewStringProperty(h))
		return "none", inputs, out, nil
	case tokBytes:
		b, err := base64.StdEncoding.DecodeString(id)
		if err != nil || len(b) == 0 {
			return "", nil, nil, fmt.Errorf("import ID must be the bytes in standard base64: %v", err)
		}
		inputs["length"] = resource.NewNumberProperty(float64(len(b)))
		out = outputsFrom(spec, inputs)
		setBytesOutputs(spec, out, b)
		return "none", inputs, out, nil
	case tokID:
		prefix, b64 := "", id
		if i := strings.LastIndex(id, ","); i >= 0 {
			prefix, b64 = id[:i], id[i+1:]
			inputs["prefix"] = resource.NewStringProperty(prefix)
		}
		b, err := base64.RawURLEncoding.DecodeString(b64)
		if err != nil || len(b) == 0 {
			return "", nil, nil, fmt.Errorf("import ID must be [prefix,]b64Url (unpadded URL-safe base64): %v", err)
		}
		inputs["byteLength"] = resource.NewNumberProperty(float64(len(b)))
		out = outputsFrom(spec, inputs)
		return setIDOutputs(spec, out, prefix, b), inputs, out, nil
	case tokInteger:
		parts := strings.Split(id, ",")
		if len(parts) < 3 || len(parts) > 4 {
			return "", nil, nil, fmt.Errorf("import ID must be result,min,max[,seed], not %q", id)
		}
		var nums [3]int64
		for i := 0; i < 3; i++ {
			n, err := strconv.ParseInt(strings.TrimSpace(parts[i]), 10, 64)
			if err != nil {
				return "", nil, nil, fmt.Errorf("import ID must be result,min,max[,seed]: %q is not an integer", parts[i])
			}
			nums[i] = n
		}
		if nums[0] < nums[1] || nums[0] > nums[2] {
			return "", nil, nil, fmt.Errorf("import ID: result %d is not within [%d, %d]", nums[0], nums[1], nums[2])
		}
		inputs["min"] = resource.NewNumberProperty(float64(nums[1]))
		inputs["max"] = resource.NewNumberProperty(float64(nums[2]))
		if len(parts) == 4 {
			inputs["seed"] = resource.NewStringProperty(parts[3])
		}
		out = outputsFrom(spec, inputs)
		setOutput(spec, out, "result", resource.NewNumberProperty(float64(nums[0])))
		return resource.ID(strconv.FormatInt(nums[0], 10)), inputs, out, nil
	case tokUUID, tokUUID4, tokUUID7:
		if !uuidRe.MatchString(id) {
			return "", nil, nil, fmt.Errorf("import ID must be a UUID in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, not %q", id)
		}
		id = strings.ToLower(id)
		out = outputsFrom(spec, inputs)
		setOutput(spec, out, "result", resource.NewStringProperty(id))
		return resource.ID(id), inputs, out, nil
	}
	return "", nil, nil, fmt.Errorf("import of %s is not supported", spec.Token)
}
