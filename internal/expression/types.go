package expression

import (
	"errors"
	"fmt"
	"time"
)

// typ is a static type known to the compiler: its properties, methods, indexer
// and (for collections) element type. A dynamic typ (object, JToken) resolves its
// members at run time from the value's own type.
type typ struct {
	name      string
	dynamic   bool
	valueType bool // a C# struct: null is not a value of it (unless nullable)
	static    bool // a static class such as DateTime or Convert
	props     map[string]*prop
	methods   map[string]*method
	index     *indexer
	elem      *typ // element type when enumerable
	each      func(v any, f func(x any) (stop bool, err error)) error
	// conv converts a (non-nil) value for a cast to this type.
	conv func(v any) (any, bool)
	// scalarCast: (string), (int), (bool), ... of a value of this type
	// compile (XElement and XAttribute convert their Value).
	scalarCast bool
}

type prop struct {
	t   *typ
	get func(e *env, v any) (any, error)
	// set, when not nil, makes the property assignable (aes.Key = ...).
	set func(e *env, recv, v any) error
}

type indexer struct {
	key *typ
	t   *typ
	get func(e *env, recv, key any) (any, error)
	set func(e *env, recv, key, val any) error
}

// callInfo is what the compiler knows about one call site.
type callInfo struct {
	p     int
	name  string
	targ  *typ   // generic argument, if any
	recvT *typ   // static receiver type
	argT  []*typ // static argument types
	lamT  *typ   // static result type of the lambda argument, if any
}

type method struct {
	min, max int // argument counts; max -1 means any
	generic  bool
	// params are the static parameter types checked at compile time; the last
	// one repeats. nil entries (and a nil slice) accept anything.
	params []*typ
	// res computes the static result type; nil means resT.
	res   func(ci *callInfo) (*typ, error)
	resT  *typ
	named []string // accepted named arguments
	outT  *typ     // type of the out argument (the last one), for TryParse
	// argElems: the lambda argument takes the elements of the first
	// argument (Array.Exists(array, x => ...)), not of the receiver.
	argElems bool
	call     func(e *env, ci *callInfo, recv any, args []any) (any, error)
}

// Exceptions, worded like .NET's.
var (
	errNullRef     = errors.New("Object reference not set to an instance of an object.")
	errIndexRange  = errors.New("Index was outside the bounds of the array.")
	errDivZero     = errors.New("Attempted to divide by zero.")
	errFormat      = errors.New("Input string was not in a correct format.")
	errNoElements  = errors.New("Sequence contains no elements.")
	errNoMatch     = errors.New("Sequence contains no matching element.")
	errStepBudget  = errors.New("the expression exceeded its step budget")
	errTooLarge    = errors.New("the expression built a string or collection larger than allowed")
	errNullableNil = errors.New("Nullable object must have a value.")
	errOverflow    = errors.New("Arithmetic operation resulted in an overflow.")
)

func errKeyNotFound(key string) error {
	return fmt.Errorf("The given key '%s' was not present in the dictionary.", key)
}

func errCast(v any, t *typ) error {
	return fmt.Errorf("Unable to cast object of type '%s' to type '%s'.", typeNameOf(v), t.name)
}

func errArgNull(name string) error {
	return fmt.Errorf("Value cannot be null. (Parameter '%s')", name)
}

// The types. They are filled in by init (in builtins.go) and never changed after.
var (
	tObject   = &typ{name: "object", dynamic: true}
	tJToken   = &typ{name: "JToken", dynamic: true}
	tNull     = &typ{name: "null"}
	tString   = &typ{name: "string"}
	tInt      = &typ{name: "int", valueType: true}
	tDouble   = &typ{name: "double", valueType: true}
	tBool     = &typ{name: "bool", valueType: true}
	tDateTime = &typ{name: "DateTime", valueType: true}
	tTimeSpan = &typ{name: "TimeSpan", valueType: true}
	tGuid     = &typ{name: "Guid", valueType: true}
	tStrArr   = &typ{name: "string[]"}
	tObjArr   = &typ{name: "object[]"}
	tBytes    = &typ{name: "byte[]"}
	tKV       = &typ{name: "KeyValuePair<string, string[]>", valueType: true}
	tKVObj    = &typ{name: "KeyValuePair<string, object>", valueType: true}
	tHeaders  = &typ{name: "IReadOnlyDictionary<string, string[]>"}
	tQuery    = &typ{name: "IReadOnlyDictionary<string, string[]>"}
	tClaims   = &typ{name: "IReadOnlyDictionary<string, string[]>"}
	tVars     = &typ{name: "IReadOnlyDictionary<string, object>"}
	tContext  = &typ{name: "IProxyRequestContext"}
	tRequest  = &typ{name: "IRequest"}
	tResponse = &typ{name: "IResponse"}
	tURL      = &typ{name: "IUrl"}
	tBody     = &typ{name: "IMessageBody"}
	tAPI      = &typ{name: "IApi"}
	tOp       = &typ{name: "IOperation"}
	tProduct  = &typ{name: "IProduct"}
	tSub      = &typ{name: "ISubscription"}
	tUser     = &typ{name: "IUser"}
	tApp      = &typ{name: "IApplication"}
	tLastErr  = &typ{name: "ILastError"}
	tDeploy   = &typ{name: "IDeployment"}
	tJwt      = &typ{name: "Jwt"}
	tAuth     = &typ{name: "Authorization"}
	tJObject  = &typ{name: "JObject"}
	tJArray   = &typ{name: "JArray"}
	tJProp    = &typ{name: "JProperty"}
	tCmp      = &typ{name: "StringComparison", valueType: true}
	tSplitOpt = &typ{name: "StringSplitOptions", valueType: true}
	tFormat   = &typ{name: "Formatting", valueType: true}
	tEncoding = &typ{name: "Encoding"}
	tLambda   = &typ{name: "lambda expression"}
	tVoid     = &typ{name: "void"}
)

// Static classes, by the names expressions use.
var staticClasses = map[string]*typ{}

// typeNames maps the type names usable in casts, declarations, generics and new.
var typeNames = map[string]*typ{
	"object": tObject, "Object": tObject,
	"string": tString, "String": tString, "char": tString, "Char": tString,
	"int": tInt, "Int32": tInt, "long": tInt, "Int64": tInt, "short": tInt, "byte": tInt,
	"double": tDouble, "Double": tDouble, "float": tDouble, "Single": tDouble, "decimal": tDouble, "Decimal": tDouble,
	"bool": tBool, "Boolean": tBool,
	"DateTime": tDateTime, "TimeSpan": tTimeSpan, "Guid": tGuid,
	"Jwt": tJwt, "Authorization": tAuth, "IResponse": tResponse, "IRequest": tRequest,
	"BasicAuthCredentials": tBasic, "Match": tMatch,
	"JObject": tJObject, "JArray": tJArray, "JToken": tJToken, "JValue": tJToken, "JProperty": tJProp,
	"var": nil,
}

func isTypeName(s string) bool {
	_, ok := typeNames[s]
	return ok && s != "var"
}

// resolveType turns a type reference into a typ.
func resolveType(r *typeRef) (*typ, error) {
	if len(r.args) > 0 {
		if r.array {
			return nil, fmt.Errorf("arrays of '%s' are not supported", r)
		}
		return resolveGeneric(r)
	}
	t, ok := typeNames[r.name]
	if !ok || t == nil {
		return nil, fmt.Errorf("the type '%s' is not supported", r.name)
	}
	if r.array {
		switch t {
		case tString:
			return tStrArr, nil
		case tObject:
			return tObjArr, nil
		case tInt:
			if r.name == "byte" {
				return tBytes, nil
			}
		}
		return nil, fmt.Errorf("arrays of '%s' are not supported", r.name)
	}
	return t, nil
}

// typeOfValue is the typ of a run-time value, for members of dynamic values.
func typeOfValue(v any) *typ {
	switch v.(type) {
	case string:
		return tString
	case int64:
		return tInt
	case float64:
		return tDouble
	case bool:
		return tBool
	case time.Time:
		return tDateTime
	case time.Duration:
		return tTimeSpan
	case Guid:
		return tGuid
	case []string:
		return tStrArr
	case []any:
		return tObjArr
	case []byte:
		return tBytes
	case *JObject:
		return tJObject
	case *JArray:
		return tJArray
	case *anonObject:
		return v.(*anonObject).t
	case jProperty:
		return tJProp
	case *Jwt:
		return tJwt
	case *Authorization:
		return tAuth
	case *Response:
		return tResponse
	case *Request:
		return tRequest
	case Headers:
		return tHeaders
	case QueryParams:
		return tQuery
	case Claims:
		return tClaims
	case Variables:
		return tVars
	case kvPair:
		return tKV
	case kvObj:
		return tKVObj
	case *URL:
		return tURL
	case *Body:
		return tBody
	case *Context:
		return tContext
	case *API:
		return tAPI
	case *Operation:
		return tOp
	case *Product:
		return tProduct
	case *Subscription:
		return tSub
	case *User:
		return tUser
	case *Application:
		return tApp
	case *LastError:
		return tLastErr
	case *Deployment:
		return tDeploy
	case stringComparison:
		return tCmp
	case splitOptions:
		return tSplitOpt
	case jsonFormatting:
		return tFormat
	case encoding:
		return tEncoding
	case *BasicAuthCredentials:
		return tBasic
	case *regexMatch:
		return tMatch
	case regexGroups:
		return tGroups
	case group:
		return tGroup
	case regexOptions:
		return tRegexOpt
	case *hashAlgorithm:
		return tHashAlg
	case *symmetricAlgorithm:
		return tSymAlg
	case cipherMode:
		return tCipherMode
	case paddingMode:
		return tPadding
	}
	return typeOfMore(v)
}

// assignable reports whether a value of static type from may be passed where to
// is expected without a cast.
func assignable(from, to *typ) bool {
	switch {
	case to == nil || from == to || to.dynamic || from.dynamic:
		return true
	case from == tNull:
		return !to.valueType
	case from == tInt && to == tDouble:
		return true
	case to == tJToken:
		return true
	case from == tString && (to == tXNamespace || to == tXName):
		return true // XNamespace and XName convert implicitly from string
	case isSubclass(from, to):
		return true // FormatException is an Exception
	}
	return false
}

// castable reports whether (to)x compiles for x of static type from.
func castable(from, to *typ) bool {
	if assignable(from, to) || assignable(to, from) {
		return true
	}
	if from == tDouble && to == tInt {
		return true
	}
	if from.scalarCast {
		switch to {
		case tString, tInt, tDouble, tBool, tDateTime, tTimeSpan, tGuid:
			return true
		}
	}
	return false
}

// typeOfMore is typeOfValue for the types of the System.* families.
func typeOfMore(v any) *typ {
	if x, ok := v.(*exceptionVal); ok {
		return x.t
	}
	switch v.(type) {
	case *sysURI:
		return tUri
	case uriKind:
		return tUriKind
	case uriPartial:
		return tUriPartial
	case *random:
		return tRandom
	case matchCollection:
		return tMatches
	case *regexInstance:
		return tRegex
	case *formData:
		return tForm
	case *xDocument:
		return tXDocument
	case *xElement:
		return tXElement
	case *xAttribute:
		return tXAttribute
	case xNamespace:
		return tXNamespace
	case saveOptions:
		return tSaveOpts
	case xName:
		return tXName
	case *stringBuilder:
		return tStringBuilder
	case *listVal:
		return tList
	case cultureInfo:
		return tCulture
	case midpointRounding:
		return tMidpoint
	case jTokenType:
		return tJTokenType
	case formatStyles:
		return tStyles
	case *dictVal:
		return tDict
	}
	return tObject
}
