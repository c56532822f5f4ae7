package expression

// Newtonsoft's JTokenType: token.Type == JTokenType.Array. JObject, JArray
// and JProperty have Type; JSON scalars (plain strings, numbers and
// booleans here) answer Type and Value when read through object or JToken.

type jTokenType int

var tJTokenType = &typ{name: "JTokenType", valueType: true}

var jTokenTypeNames = []string{"None", "Object", "Array", "Constructor", "Property", "Comment", "Integer", "Float", "String", "Boolean", "Null", "Undefined", "Date", "Raw", "Bytes", "Guid", "Uri", "TimeSpan"}

// jvalueProps are the JValue members of JSON scalars.
var jvalueProps = map[string]*prop{}

func isJSONScalar(v any) bool {
	switch v.(type) {
	case string, int64, float64, bool:
		return true
	}
	return false
}

func jsonTokenType(v any) jTokenType {
	switch v.(type) {
	case *JObject:
		return 1
	case *JArray:
		return 2
	case jProperty:
		return 4
	case int64:
		return 6
	case float64:
		return 7
	case string:
		return 8
	case bool:
		return 9
	}
	return 10
}

func fillJTokenType() {
	c := staticClass("JTokenType")
	for i, n := range jTokenTypeNames {
		c.props[n] = constProp(tJTokenType, jTokenType(i))
	}
	registerStatic(c)
	typeNames["JTokenType"] = tJTokenType
	tp := pr(tJTokenType, func(v any) any { return jsonTokenType(v) })
	for _, t := range []*typ{tJObject, tJArray, tJProp} {
		t.props["Type"] = tp
	}
	jvalueProps["Type"] = tp
	jvalueProps["Value"] = pr(tObject, func(v any) any { return v })
	jvalueProps["HasValues"] = constProp(tBool, false)
	addObjectMethods(tJTokenType)
}
