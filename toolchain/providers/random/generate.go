package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Character classes of RandomString and RandomPassword.
const (
	lowerChars   = "abcdefghijklmnopqrstuvwxyz"
	upperChars   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	numericChars = "0123456789"
)

// stringParams are the inputs of RandomString/RandomPassword after Check (defaults filled in).
type stringParams struct {
	Length                                     int
	Lower, Upper, Numeric, Special             bool
	MinLower, MinUpper, MinNumeric, MinSpecial int
	// OverrideSpecial replaces the default special characters when HasOverride is set.
	OverrideSpecial string
	HasOverride     bool
}

func (p stringParams) specialSet() []rune {
	if p.HasOverride {
		return dedupe([]rune(p.OverrideSpecial))
	}
	return []rune(defaultSpecial)
}

func dedupe(rs []rune) []rune {
	seen := map[rune]bool{}
	var out []rune
	for _, r := range rs {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// class is one enabled character class and how many of it the result must hold at least.
type class struct {
	chars []rune
	min   int
}

func (p stringParams) classes() []class {
	var cs []class
	if p.Lower {
		cs = append(cs, class{[]rune(lowerChars), p.MinLower})
	}
	if p.Upper {
		cs = append(cs, class{[]rune(upperChars), p.MinUpper})
	}
	if p.Numeric {
		cs = append(cs, class{[]rune(numericChars), p.MinNumeric})
	}
	if p.Special {
		if s := p.specialSet(); len(s) > 0 {
			cs = append(cs, class{s, p.MinSpecial})
		}
	}
	return cs
}

// randIndex returns a uniform integer in [0, n) from the reader, without modulo bias.
func randIndex(r io.Reader, n int) (int, error) {
	i, err := rand.Int(r, big.NewInt(int64(n)))
	if err != nil {
		return 0, err
	}
	return int(i.Int64()), nil
}

// generateString makes a string of p.Length characters: the minimum of each enabled class first,
// the rest from the union of the enabled classes, then all of it shuffled (Fisher-Yates).
func generateString(r io.Reader, p stringParams) (string, error) {
	cs := p.classes()
	if len(cs) == 0 {
		return "", errors.New("no characters to choose from: lower, upper, numeric and special are all false (or overrideSpecial is empty)")
	}
	var all []rune
	for _, c := range cs {
		all = append(all, c.chars...)
	}
	all = dedupe(all)
	out := make([]rune, 0, p.Length)
	for _, c := range cs {
		for i := 0; i < c.min; i++ {
			k, err := randIndex(r, len(c.chars))
			if err != nil {
				return "", err
			}
			out = append(out, c.chars[k])
		}
	}
	if len(out) > p.Length {
		return "", fmt.Errorf("length %d is less than the sum of the minimums (%d)", p.Length, len(out))
	}
	for len(out) < p.Length {
		k, err := randIndex(r, len(all))
		if err != nil {
			return "", err
		}
		out = append(out, all[k])
	}
	for i := len(out) - 1; i > 0; i-- {
		j, err := randIndex(r, i+1)
		if err != nil {
			return "", err
		}
		out[i], out[j] = out[j], out[i]
	}
	return string(out), nil
}

// bcryptHash hashes the password's first 72 bytes (bcrypt's limit) at the default cost.
func bcryptHash(password string) (string, error) {
	b := []byte(password)
	if len(b) > 72 {
		b = b[:72]
	}
	h, err := bcrypt.GenerateFromPassword(b, bcrypt.DefaultCost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		return nil, err
	}
	return b, nil
}

// bytesEncodings are RandomBytes' outputs.
func bytesEncodings(b []byte) (b64, hx string) {
	return base64.StdEncoding.EncodeToString(b), hex.EncodeToString(b)
}

// idEncodings are RandomId's outputs, each with the prefix in front.
type idEncodings struct {
	B64URL, B64Std, Hex, Dec string
}

func encodeID(prefix string, b []byte) idEncodings {
	return idEncodings{
		B64URL: prefix + base64.RawURLEncoding.EncodeToString(b),
		B64Std: prefix + base64.StdEncoding.EncodeToString(b),
		Hex:    prefix + hex.EncodeToString(b),
		Dec:    prefix + new(big.Int).SetBytes(b).String(),
	}
}

// randomInteger returns a uniform integer in [min, max]. With a seed the result depends only on
// seed, min and max: the seed's SHA-256 seeds a ChaCha8 stream.
func randomInteger(min, max int64, seed *string) (int64, error) {
	if max < min {
		return 0, fmt.Errorf("max (%d) is less than min (%d)", max, min)
	}
	span := uint64(max-min) + 1 // min and max lie within ±2^53, so this does not overflow
	if seed != nil {
		key := sha256.Sum256([]byte(*seed))
		g := mrand.New(mrand.NewChaCha8(key))
		return min + int64(g.Uint64N(span)), nil
	}
	n, err := rand.Int(rand.Reader, new(big.Int).SetUint64(span))
	if err != nil {
		return 0, err
	}
	return min + n.Int64(), nil
}

// newUUID makes a UUID of version 4 (122 random bits) or 7 (48-bit Unix time in milliseconds,
// then 74 random bits), with the RFC 9562 variant, in the lowercase hyphenated form.
func newUUID(version int, now time.Time) (string, error) {
	b, err := randomBytes(16)
	if err != nil {
		return "", err
	}
	if version == 7 {
		ms := uint64(now.UnixMilli())
		for i := 0; i < 6; i++ {
			b[i] = byte(ms >> (8 * (5 - i)))
		}
	}
	b[6] = b[6]&0x0f | byte(version)<<4
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}
