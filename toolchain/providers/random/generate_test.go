package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

func countIn(s, set string) int {
	n := 0
	for _, r := range s {
		if strings.ContainsRune(set, r) {
			n++
		}
	}
	return n
}

func defaults(length int) stringParams {
	return stringParams{Length: length, Lower: true, Upper: true, Numeric: true, Special: true}
}

func mustString(t *testing.T, p stringParams) string {
	t.Helper()
	s, err := generateString(rand.Reader, p)
	if err != nil {
		t.Fatalf("generateString(%+v): %v", p, err)
	}
	return s
}

func TestStringLengthAndAllClassesByDefault(t *testing.T) {
	for _, n := range []int{1, 2, 16, 100} {
		s := mustString(t, defaults(n))
		if got := utf8.RuneCountInString(s); got != n {
			t.Errorf("length %d: got %d characters (%q)", n, got, s)
		}
	}
	// With 4 classes and length 200, each class shows up (the chance one is absent is ~1e-20).
	s := mustString(t, defaults(200))
	for name, set := range map[string]string{"lower": lowerChars, "upper": upperChars, "numeric": numericChars, "special": defaultSpecial} {
		if countIn(s, set) == 0 {
			t.Errorf("default settings: no %s character in %q", name, s)
		}
	}
	if countIn(s, lowerChars+upperChars+numericChars+defaultSpecial) != 200 {
		t.Errorf("characters outside the default classes in %q", s)
	}
}

func TestStringDisabledClassesAbsent(t *testing.T) {
	cases := map[string]func(*stringParams) string{
		"lower":   func(p *stringParams) string { p.Lower = false; return lowerChars },
		"upper":   func(p *stringParams) string { p.Upper = false; return upperChars },
		"numeric": func(p *stringParams) string { p.Numeric = false; return numericChars },
		"special": func(p *stringParams) string { p.Special = false; return defaultSpecial },
	}
	for name, off := range cases {
		p := defaults(300)
		set := off(&p)
		for i := 0; i < 5; i++ {
			if s := mustString(t, p); countIn(s, set) != 0 {
				t.Errorf("%s=false: found %s characters in %q", name, name, s)
			}
		}
	}
	only := stringParams{Length: 64, Numeric: true}
	if s := mustString(t, only); countIn(s, numericChars) != 64 {
		t.Errorf("numeric only: %q", s)
	}
}

func TestStringMinimumsHonoured(t *testing.T) {
	p := defaults(12)
	p.MinLower, p.MinUpper, p.MinNumeric, p.MinSpecial = 3, 3, 3, 3
	for i := 0; i < 50; i++ {
		s := mustString(t, p)
		if countIn(s, lowerChars) < 3 || countIn(s, upperChars) < 3 || countIn(s, numericChars) < 3 || countIn(s, defaultSpecial) < 3 {
			t.Fatalf("minimums of 3 each not met in %q", s)
		}
	}
	// A minimum of a rare class is met even when the class is small and the string short.
	p = stringParams{Length: 5, Lower: true, Numeric: true, MinNumeric: 5}
	if s := mustString(t, p); countIn(s, numericChars) != 5 {
		t.Errorf("minNumeric 5 of length 5: %q", s)
	}
	// The minimums are not all put at the start: shuffled.
	p = stringParams{Length: 40, Lower: true, Numeric: true, MinNumeric: 1}
	first := 0
	for i := 0; i < 200; i++ {
		if strings.ContainsRune(numericChars, rune(mustString(t, p)[0])) {
			first++
		}
	}
	if first > 100 {
		t.Errorf("the required digit came first in %d of 200 strings: not shuffled", first)
	}
}

func TestStringOverrideSpecial(t *testing.T) {
	p := stringParams{Length: 100, Special: true, OverrideSpecial: "-_", HasOverride: true, MinSpecial: 1}
	s := mustString(t, p)
	if countIn(s, "-_") != 100 {
		t.Errorf("overrideSpecial \"-_\" with only special on: %q", s)
	}
	p = defaults(300)
	p.OverrideSpecial, p.HasOverride = "§~", true
	s = mustString(t, p)
	if countIn(s, "!@#$%&*()=+[]{}<>:?") != 0 {
		t.Errorf("default special characters used although overridden: %q", s)
	}
	if countIn(s, "§~") == 0 {
		t.Errorf("no override special character in %q", s)
	}
	// overrideSpecial without special: not used.
	p.Special = false
	if s = mustString(t, p); countIn(s, "§~") != 0 {
		t.Errorf("override characters used although special=false: %q", s)
	}
	// Nothing to choose from is an error, not an empty or endless string.
	if _, err := generateString(rand.Reader, stringParams{Length: 3, Special: true, HasOverride: true}); err == nil {
		t.Errorf("empty overrideSpecial as the only class: want an error")
	}
}

func TestStringsDiffer(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		s := mustString(t, defaults(16))
		if seen[s] {
			t.Fatalf("the same 16-character string twice: %q", s)
		}
		seen[s] = true
	}
}

func TestBcryptHashVerifies(t *testing.T) {
	pw := mustString(t, defaults(24))
	h, err := bcryptHash(pw)
	if err != nil {
		t.Fatal(err)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(h), []byte(pw)); err != nil {
		t.Errorf("bcrypt hash does not verify against the password: %v", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(h), []byte(pw+"x")) == nil {
		t.Errorf("bcrypt hash verifies against another password")
	}
	long := strings.Repeat("a", 72) + "tail"
	h, err = bcryptHash(long)
	if err != nil {
		t.Fatalf("password over 72 bytes: %v", err)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(h), []byte(long[:72])); err != nil {
		t.Errorf("hash of a long password is not that of its first 72 bytes: %v", err)
	}
}

func TestIDEncodingsConsistent(t *testing.T) {
	for _, n := range []int{1, 2, 3, 8, 33} {
		b, err := randomBytes(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, prefix := range []string{"", "srv-"} {
			e := encodeID(prefix, b)
			for name, v := range map[string]string{"b64Url": e.B64URL, "b64Std": e.B64Std, "hex": e.Hex, "dec": e.Dec} {
				if !strings.HasPrefix(v, prefix) {
					t.Errorf("%s %q lacks prefix %q", name, v, prefix)
				}
			}
			u, err1 := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(e.B64URL, prefix))
			s, err2 := base64.StdEncoding.DecodeString(strings.TrimPrefix(e.B64Std, prefix))
			h, err3 := hex.DecodeString(strings.TrimPrefix(e.Hex, prefix))
			d, ok := new(big.Int).SetString(strings.TrimPrefix(e.Dec, prefix), 10)
			if err1 != nil || err2 != nil || err3 != nil || !ok {
				t.Fatalf("undecodable encodings %+v: %v %v %v %v", e, err1, err2, err3, ok)
			}
			if string(u) != string(b) || string(s) != string(b) || string(h) != string(b) {
				t.Errorf("encodings of %x disagree: %+v", b, e)
			}
			if d.Cmp(new(big.Int).SetBytes(b)) != 0 {
				t.Errorf("dec %s is not the bytes %x as a number", e.Dec, b)
			}
			if len(strings.TrimPrefix(e.Hex, prefix)) != 2*n {
				t.Errorf("hex of %d bytes has %d digits", n, len(e.Hex))
			}
			if strings.ContainsAny(e.B64URL, "+/=") {
				t.Errorf("b64Url %q has characters outside the URL-safe set", e.B64URL)
			}
		}
	}
	// Leading zero bytes: kept by hex and base64, not written by dec.
	e := encodeID("", []byte{0, 1})
	if e.Hex != "0001" || e.Dec != "1" || e.B64Std != "AAE=" || e.B64URL != "AAE" {
		t.Errorf("encodings of 00 01: %+v", e)
	}
}

func TestBytesEncodingsConsistent(t *testing.T) {
	b, _ := randomBytes(32)
	b64, hx := bytesEncodings(b)
	fromB64, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	fromHex, err := hex.DecodeString(hx)
	if err != nil {
		t.Fatal(err)
	}
	if string(fromB64) != string(b) || string(fromHex) != string(b) || len(hx) != 64 || hx != strings.ToLower(hx) {
		t.Errorf("base64 %q and hex %q do not both encode %x", b64, hx, b)
	}
}

func TestIntegerRangeAndUniformity(t *testing.T) {
	counts := map[int64]int{}
	const draws = 6000
	for i := 0; i < draws; i++ {
		n, err := randomInteger(1, 6, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n < 1 || n > 6 {
			t.Fatalf("result %d outside [1, 6]", n)
		}
		counts[n]++
	}
	for v := int64(1); v <= 6; v++ {
		// Expected 1000 each; 800..1200 is more than 6 standard deviations wide.
		if counts[v] < 800 || counts[v] > 1200 {
			t.Errorf("value %d drawn %d times of %d: not uniform (%v)", v, counts[v], draws, counts)
		}
	}
	if n, _ := randomInteger(7, 7, nil); n != 7 {
		t.Errorf("[7, 7] gave %d", n)
	}
	if n, _ := randomInteger(-5, -3, nil); n < -5 || n > -3 {
		t.Errorf("[-5, -3] gave %d", n)
	}
	if _, err := randomInteger(5, 4, nil); err == nil {
		t.Errorf("max < min: want an error")
	}
	big := int64(1) << 53
	if n, err := randomInteger(-big, big, nil); err != nil || n < -big || n > big {
		t.Errorf("[-2^53, 2^53]: %d %v", n, err)
	}
}

func TestIntegerSeedDeterministic(t *testing.T) {
	s := "port-seed"
	first, _ := randomInteger(20000, 30000, &s)
	for i := 0; i < 20; i++ {
		n, _ := randomInteger(20000, 30000, &s)
		if n != first {
			t.Fatalf("seed %q gave %d then %d", s, first, n)
		}
	}
	if first < 20000 || first > 30000 {
		t.Fatalf("seeded result %d outside range", first)
	}
	distinct := map[int64]bool{}
	for _, seed := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		seed := seed
		n, _ := randomInteger(0, 1_000_000, &seed)
		distinct[n] = true
	}
	if len(distinct) < 6 {
		t.Errorf("8 different seeds gave only %d different results", len(distinct))
	}
}

func TestUUIDs(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-([47])[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	now := time.UnixMilli(1_700_000_000_123)
	for _, v := range []int{4, 7} {
		seen := map[string]bool{}
		for i := 0; i < 50; i++ {
			u, err := newUUID(v, now)
			if err != nil {
				t.Fatal(err)
			}
			m := re.FindStringSubmatch(u)
			if m == nil || m[1] != strconv.Itoa(v) {
				t.Fatalf("version %d UUID %q: wrong form, version or variant", v, u)
			}
			if seen[u] {
				t.Fatalf("UUID %q twice", u)
			}
			seen[u] = true
			if v == 7 {
				ms, _ := strconv.ParseUint(strings.ReplaceAll(u, "-", "")[:12], 16, 64)
				if ms != 1_700_000_000_123 {
					t.Errorf("UUIDv7 %q carries time %d, want 1700000000123", u, ms)
				}
			}
		}
	}
}
