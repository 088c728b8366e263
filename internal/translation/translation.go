// Package translation gives the API's messages in the caller's language.
//
// The code writes its messages in English, the default; the catalog below
// pairs each English message (a fmt format: %s, %q, %d and %v stand for the
// parts that vary) with its translations, and is the one place translations
// live. A test walks the packages that write messages and fails on one the
// catalog lacks, so a new or changed message cannot reach a translated
// screen in English unnoticed.
//
// Translating a message finds the catalog entry its English text matches,
// translates the varying parts in turn (a message may quote another, such
// as what the API was doing when a service failed), and writes them into
// the translation. Text from outside (a service's own error, a stored
// value) has no entry and stays as it is.
package translation

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/text/language"
)

// Supported are the languages the API answers in, English (the default)
// first.
var Supported = []language.Tag{language.English, language.Italian}

var matcher = language.NewMatcher(Supported)

// Match picks the supported language an Accept-Language header prefers;
// English when it names none of them or cannot be read.
func Match(acceptLanguage string) language.Tag {
	if strings.TrimSpace(acceptLanguage) == "" {
		return language.English
	}
	_, index := language.MatchStrings(matcher, acceptLanguage)
	return Supported[index]
}

// entry is one message of the catalog with a varying part.
type entry struct {
	english string
	italian string
	pattern *regexp.Regexp
	fixed   int // how much of english is fixed text: more is more specific
}

// catalogs is the catalog read for matching: the messages without a
// varying part by their text, the others most specific first. It is built
// once and only read afterwards.
type catalogs struct {
	exact    map[string]string
	patterns []entry
}

var catalog = build(italian)

func build(pairs [][2]string) catalogs {
	c := catalogs{exact: make(map[string]string, len(pairs))}
	for _, p := range pairs {
		if !verb.MatchString(p[0]) {
			c.exact[p[0]] = p[1]
			continue
		}
		fixed := len(verb.ReplaceAllString(p[0], ""))
		c.patterns = append(c.patterns, entry{english: p[0], italian: p[1], pattern: compile(p[0]), fixed: fixed})
	}
	slices.SortStableFunc(c.patterns, func(a, b entry) int { return b.fixed - a.fixed })
	return c
}

// known reports whether the catalog has an English message, as written in
// the code (a format, for one with varying parts).
func known(english string) bool {
	if _, ok := catalog.exact[english]; ok {
		return true
	}
	return slices.ContainsFunc(catalog.patterns, func(e entry) bool { return e.english == english })
}

// verb matches the fmt verbs the messages use.
var verb = regexp.MustCompile(`%[sqdv]`)

// compile turns an English format into a pattern whose groups are the
// varying parts.
func compile(format string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, loc := range verb.FindAllStringIndex(format, -1) {
		b.WriteString(regexp.QuoteMeta(format[last:loc[0]]))
		switch format[loc[1]-1] {
		case 'd':
			b.WriteString(`(-?\d+)`)
		case 'q':
			b.WriteString(`("(?:[^"\\]|\\.)*")`)
		default:
			b.WriteString(`(.+?)`)
		}
		last = loc[1]
	}
	b.WriteString(regexp.QuoteMeta(format[last:]))
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// maxDepth bounds how deeply quoted messages are translated in turn.
const maxDepth = 3

// Into gives an English message of the API in the language tag names, or
// the message itself when the language is English or the catalog lacks it.
func Into(tag language.Tag, message string) string {
	if base, _ := tag.Base(); base.String() != "it" || message == "" {
		return message
	}
	return italianOf(message, 0)
}

func italianOf(message string, depth int) string {
	if depth > maxDepth {
		return message
	}
	if it, ok := catalog.exact[message]; ok {
		return it
	}
	for _, e := range catalog.patterns {
		groups := e.pattern.FindStringSubmatch(message)
		if groups == nil {
			continue
		}
		args := make([]any, len(groups)-1)
		for i, g := range groups[1:] {
			args[i] = italianOf(g, depth+1)
		}
		return fmt.Sprintf(e.italian, args...)
	}
	// Several messages joined by "; " are translated one by one.
	if parts := strings.Split(message, "; "); len(parts) > 1 {
		for i, p := range parts {
			parts[i] = italianOf(p, depth+1)
		}
		return strings.Join(parts, "; ")
	}
	return message
}
