package expression

// System.Globalization: formatting and parsing always use the invariant
// culture, so a CultureInfo (IFormatProvider) or DateTimeStyles/NumberStyles
// argument changes nothing. The compiler checks such an argument and leaves
// it out of the call: String.Format(CultureInfo.InvariantCulture, "{0}", x),
// d.ToString("o", CultureInfo.InvariantCulture), double.Parse(s, culture).

type cultureInfo string

type formatStyles int

var (
	tCulture = &typ{name: "CultureInfo"}
	tStyles  = &typ{name: "DateTimeStyles", valueType: true}
)

// cultureNames are the names an argument left out of a call may start with.
var cultureNames = map[string]bool{"CultureInfo": true, "DateTimeStyles": true, "NumberStyles": true}

// isFormatProvider reports whether an argument is, by its text, a culture or
// a styles value: CultureInfo.InvariantCulture, new CultureInfo("en-US"),
// DateTimeStyles.AdjustToUniversal, System.Globalization.CultureInfo....
func isFormatProvider(x node) bool {
	for {
		switch n := x.(type) {
		case *chainEnd:
			x = n.x
		case *memberNode:
			if id, ok := n.x.(*identNode); ok && id.name == "System" {
				return n.name == "Globalization"
			}
			x = n.x
		case *binaryNode:
			// DateTimeStyles.A | DateTimeStyles.B
			return n.op == "|" && isFormatProvider(n.l) && isFormatProvider(n.r)
		case *newNode:
			return n.t != nil && n.t.name == "CultureInfo" && !n.array
		case *identNode:
			return cultureNames[n.name]
		default:
			return false
		}
	}
}

// dropFormatProviders returns the call without its culture and styles
// arguments, after checking that they are what they look like.
func (c *compiler) dropFormatProviders(n *callNode) *callNode {
	drop := false
	for _, a := range n.args {
		if a.name == "" && !a.out && isFormatProvider(a.x) {
			drop = true
		}
	}
	if !drop {
		return n
	}
	kept := make([]*argNode, 0, len(n.args))
	for _, a := range n.args {
		if a.name == "" && !a.out && isFormatProvider(a.x) {
			c.checkFormatProvider(a.x)
			continue
		}
		kept = append(kept, a)
	}
	cp := *n
	cp.args = kept
	return &cp
}

// checkFormatProvider compiles an argument dropFormatProviders leaves out
// (each side of a | of styles), so that a misspelt member is still an error.
func (c *compiler) checkFormatProvider(n node) {
	if b, ok := n.(*binaryNode); ok {
		c.checkFormatProvider(b.l)
		c.checkFormatProvider(b.r)
		return
	}
	x := c.expr(n)
	if x.static != nil || x.t != tCulture && x.t != tStyles {
		c.errf(n.position(), "'%s' is not a culture or a styles value", x.t.name)
	}
}

func fillCulture() {
	ci := staticClass("CultureInfo")
	for _, name := range []string{"InvariantCulture", "CurrentCulture", "CurrentUICulture", "InstalledUICulture"} {
		ci.props[name] = constProp(tCulture, cultureInfo(""))
	}
	ci.methods["GetCultureInfo"] = mth(1, 1, tCulture, ts(tString), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		s, err := argStr(args, 0, "name")
		return cultureInfo(s), err
	})
	constructors["CultureInfo"] = ci.methods["GetCultureInfo"]
	typeNames["CultureInfo"] = tCulture
	tCulture.props = map[string]*prop{
		"Name": pr(tString, func(v any) any { return string(v.(cultureInfo)) }),
	}
	registerStatic(ci)
	for _, class := range []string{"DateTimeStyles", "NumberStyles"} {
		st := staticClass(class)
		for i, name := range []string{"None", "AllowLeadingWhite", "AllowTrailingWhite", "AllowWhiteSpaces", "AdjustToUniversal", "AssumeLocal", "AssumeUniversal", "RoundtripKind", "Any", "Float", "Integer", "Number", "AllowDecimalPoint", "AllowThousands", "AllowExponent", "AllowLeadingSign", "AllowHexSpecifier", "HexNumber", "Currency"} {
			st.props[name] = constProp(tStyles, formatStyles(i))
		}
		registerStatic(st)
	}
	addObjectMethods(tCulture)
	addObjectMethods(tStyles)
}
