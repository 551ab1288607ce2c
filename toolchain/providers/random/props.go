package main

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// unwrap removes secret and known-output wrappers around a value (not inside it).
func unwrap(v resource.PropertyValue) resource.PropertyValue {
	for {
		switch {
		case v.IsSecret():
			v = v.SecretValue().Element
		case v.IsOutput() && v.OutputValue().Known:
			v = v.OutputValue().Element
		default:
			return v
		}
	}
}

// isUnknown reports whether the value (or anything in it) is not known yet (a preview).
func isUnknown(v resource.PropertyValue) bool {
	return v.ContainsUnknowns()
}

// isSecret reports whether the value is marked secret at its top.
func isSecret(v resource.PropertyValue) bool {
	for {
		switch {
		case v.IsSecret():
			return true
		case v.IsOutput():
			if v.OutputValue().Secret {
				return true
			}
			if !v.OutputValue().Known {
				return false
			}
			v = v.OutputValue().Element
		default:
			return false
		}
	}
}

// plain turns a known value into plain Go data without secret markers, for comparisons.
// ok is false when the value contains unknowns.
func plain(v resource.PropertyValue) (any, bool) {
	v = unwrap(v)
	switch {
	case v.IsComputed() || v.IsOutput():
		return nil, false
	case v.IsNull():
		return nil, true
	case v.IsObject():
		m := map[string]any{}
		for k, e := range v.ObjectValue() {
			pe, ok := plain(e)
			if !ok {
				return nil, false
			}
			m[string(k)] = pe
		}
		return m, true
	case v.IsArray():
		var a []any
		for _, e := range v.ArrayValue() {
			pe, ok := plain(e)
			if !ok {
				return nil, false
			}
			a = append(a, pe)
		}
		return a, true
	default:
		return v.V, true
	}
}

// present reports whether a property is set (neither absent nor null).
func present(m resource.PropertyMap, name string) bool {
	v, ok := m[resource.PropertyKey(name)]
	return ok && !unwrap(v).IsNull()
}

// known returns the unwrapped value of a set property whose value is known.
func known(m resource.PropertyMap, name string) (resource.PropertyValue, bool) {
	v, ok := m[resource.PropertyKey(name)]
	if !ok || isUnknown(v) {
		return resource.PropertyValue{}, false
	}
	v = unwrap(v)
	if v.IsNull() {
		return resource.PropertyValue{}, false
	}
	return v, true
}

// knownInt returns a known whole-number property (already type-checked by Check).
func knownInt(m resource.PropertyMap, name string) (int64, bool) {
	v, ok := known(m, name)
	if !ok || !v.IsNumber() {
		return 0, false
	}
	return int64(v.NumberValue()), true
}

func knownBool(m resource.PropertyMap, name string) (bool, bool) {
	v, ok := known(m, name)
	if !ok || !v.IsBool() {
		return false, false
	}
	return v.BoolValue(), true
}

func knownString(m resource.PropertyMap, name string) (string, bool) {
	v, ok := known(m, name)
	if !ok || !v.IsString() {
		return "", false
	}
	return v.StringValue(), true
}

// maxExactInt is the largest integer a Pulumi number (a float64) holds exactly.
const maxExactInt = 1 << 53

// checkType validates the value of one property against its type; unknown values pass.
func checkType(p propSpec, v resource.PropertyValue) string {
	if isUnknown(v) {
		return ""
	}
	v = unwrap(v)
	if v.IsNull() {
		return ""
	}
	switch p.Type {
	case tInteger:
		if !v.IsNumber() {
			return fmt.Sprintf("%s must be a whole number, not %s", p.Name, describe(v))
		}
		n := v.NumberValue()
		if n != math.Trunc(n) || math.IsInf(n, 0) || math.IsNaN(n) {
			return fmt.Sprintf("%s must be a whole number, not %v", p.Name, n)
		}
		if math.Abs(n) > maxExactInt {
			return fmt.Sprintf("%s must be between -2^53 and 2^53 (a JavaScript safe integer), not %v", p.Name, n)
		}
	case tBoolean:
		if !v.IsBool() {
			return fmt.Sprintf("%s must be true or false, not %s", p.Name, describe(v))
		}
	case tString:
		if !v.IsString() {
			return fmt.Sprintf("%s must be a string, not %s", p.Name, describe(v))
		}
	case tStringMap:
		if !v.IsObject() {
			return fmt.Sprintf("%s must be a map of strings, not %s", p.Name, describe(v))
		}
		var bad []string
		for k, e := range v.ObjectValue() {
			if e = unwrap(e); !e.IsString() {
				bad = append(bad, fmt.Sprintf("%q is %s", string(k), describe(e)))
			}
		}
		if len(bad) > 0 {
			return fmt.Sprintf("%s must be a map of strings: %s", p.Name, strings.Join(bad, ", "))
		}
	}
	return ""
}

func describe(v resource.PropertyValue) string {
	switch {
	case v.IsNumber():
		return fmt.Sprintf("the number %v", v.NumberValue())
	case v.IsString():
		return fmt.Sprintf("the string %q", v.StringValue())
	case v.IsBool():
		return fmt.Sprintf("%v", v.BoolValue())
	case v.IsNull():
		return "null"
	case v.IsObject():
		return "an object"
	case v.IsArray():
		return "an array"
	default:
		return reflect.TypeOf(v.V).String()
	}
}
