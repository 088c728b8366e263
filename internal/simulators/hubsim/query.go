package hubsim

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
)

// parseQuery reads the query parameter of GET /customers: Contacthub's
// JSON query grammar, in its simple form. Accepted shapes are
// {"name","query":{"type":"simple","are":{"condition":C}}}, the inner
// {"type":"simple",...} alone, or a bare condition C, where C is
// {"type":"atomic","attribute","operator","value"} or
// {"type":"composite","conjunction":"and"|"or","conditions":[C...]}.
// Event conditions ("did") and combined queries are refused with 400.
func parseQuery(raw string) (func(map[string]any) bool, *Error) {
	doc, err := decodeMap([]byte(raw))
	if err != nil {
		return nil, badQuery("the query is not a JSON object")
	}
	if inner, ok := doc["query"].(map[string]any); ok {
		doc = inner
	}
	if doc["type"] == "simple" {
		if _, ok := doc["did"]; ok {
			return nil, badQuery("event conditions (did) are not supported by the simulator")
		}
		are, _ := doc["are"].(map[string]any)
		cond, _ := are["condition"].(map[string]any)
		if cond == nil {
			return nil, badQuery("a simple query needs are.condition")
		}
		doc = cond
	}
	return parseCondition(doc)
}

func badQuery(message string) *Error {
	return invalid("query is not valid", []FieldError{{Path: "query", Message: message}})
}

func parseCondition(c map[string]any) (func(map[string]any) bool, *Error) {
	switch c["type"] {
	case "atomic":
		attribute, _ := c["attribute"].(string)
		operator, _ := c["operator"].(string)
		if attribute == "" {
			return nil, badQuery("an atomic condition needs an attribute")
		}
		value := c["value"]
		test, err := atomicTest(operator, value)
		if err != nil {
			return nil, err
		}
		return func(doc map[string]any) bool {
			v, _ := lookup(doc, attribute)
			if list, ok := v.([]any); ok && operator != "IS_NULL" && operator != "IS_NOT_NULL" {
				for _, item := range list {
					if test(item) {
						return true
					}
				}
				return false
			}
			return test(v)
		}, nil
	case "composite":
		conjunction, _ := c["conjunction"].(string)
		conjunction = strings.ToLower(conjunction)
		if conjunction != "and" && conjunction != "or" {
			return nil, badQuery("a composite condition needs conjunction and or or")
		}
		raw, _ := c["conditions"].([]any)
		var parts []func(map[string]any) bool
		for _, r := range raw {
			sub, ok := r.(map[string]any)
			if !ok {
				return nil, badQuery("conditions must be objects")
			}
			p, err := parseCondition(sub)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		}
		return func(doc map[string]any) bool {
			for _, p := range parts {
				if p(doc) != (conjunction == "and") {
					return conjunction != "and"
				}
			}
			return conjunction == "and"
		}, nil
	}
	return nil, badQuery(fmt.Sprintf("condition type %v is not supported", c["type"]))
}

func atomicTest(operator string, value any) (func(any) bool, *Error) {
	list, _ := value.([]any)
	switch operator {
	case "EQUALS":
		return func(v any) bool { return v != nil && compareValues(v, value) == 0 }, nil
	case "NOT_EQUALS":
		return func(v any) bool { return v == nil || compareValues(v, value) != 0 }, nil
	case "GT":
		return func(v any) bool { return v != nil && compareValues(v, value) > 0 }, nil
	case "GTE":
		return func(v any) bool { return v != nil && compareValues(v, value) >= 0 }, nil
	case "LT":
		return func(v any) bool { return v != nil && compareValues(v, value) < 0 }, nil
	case "LTE":
		return func(v any) bool { return v != nil && compareValues(v, value) <= 0 }, nil
	case "IS_NULL":
		return func(v any) bool { return v == nil }, nil
	case "IS_NOT_NULL":
		return func(v any) bool { return v != nil }, nil
	case "BETWEEN":
		if len(list) != 2 {
			return nil, badQuery("BETWEEN needs a value of two elements")
		}
		return func(v any) bool {
			return v != nil && compareValues(v, list[0]) >= 0 && compareValues(v, list[1]) <= 0
		}, nil
	case "IN", "NOT_IN":
		if list == nil {
			list = []any{value}
		}
		in := func(v any) bool {
			for _, x := range list {
				if v != nil && compareValues(v, x) == 0 {
					return true
				}
			}
			return false
		}
		if operator == "IN" {
			return in, nil
		}
		return func(v any) bool { return !in(v) }, nil
	}
	return nil, badQuery(fmt.Sprintf("operator %q is not supported", operator))
}

// compareValues orders decoded JSON values: numbers numerically, strings
// and the rest by their text; null sorts last.
func compareValues(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	if x, ok := number(a); ok {
		if y, ok := number(b); ok {
			return cmp.Compare(x, y)
		}
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}
