package expression

import (
	"errors"
	"fmt"
)

// The members of XDocument, XElement, XAttribute, XName and XNamespace.

// xName is an XName: Name of an element or attribute.
type xName struct{ ns, local string }

var tXName = &typ{name: "XName"}

func (n xName) String() string { return expanded(n.ns, n.local) }

// xmlName reads a name argument: a string ("local" or "{uri}local") or an XName.
func xmlName(args []any, i int) (*[2]string, error) {
	if n, ok := args[i].(xName); ok {
		return &[2]string{n.ns, n.local}, nil
	}
	ns, local, err := nameArg(args[i])
	if err != nil {
		return nil, err
	}
	return &[2]string{ns, local}, nil
}

// optName reads an optional name filter at i.
func optName(args []any, i int) (*[2]string, error) {
	if len(args) <= i {
		return nil, nil
	}
	return xmlName(args, i)
}

func indentOf(args []any) (bool, error) {
	if len(args) == 0 {
		return true, nil
	}
	o, ok := args[0].(saveOptions)
	if !ok {
		return false, errors.New("the argument of ToString must be a SaveOptions")
	}
	return o&1 == 0, nil
}

// xmlContent adds args[from:] to x.
func xmlContent(e *env, x *xElement, args []any) error {
	for _, a := range args {
		if err := x.add(e, a); err != nil {
			return err
		}
	}
	return nil
}

func xmlValueText(v any) string {
	switch v := v.(type) {
	case *xElement:
		return v.value()
	case *xAttribute:
		return v.value
	}
	return xmlScalar(v)
}

func fillXML() {
	xdoc, xel, xattr, xns, xname := staticClass("XDocument"), staticClass("XElement"), staticClass("XAttribute"), staticClass("XNamespace"), staticClass("XName")
	parse := func(asElement bool) *method {
		t := tXDocument
		if asElement {
			t = tXElement
		}
		return mth(1, 2, t, ts(tString, nil), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
			s, err := argStr(args, 0, "text")
			if err != nil {
				return nil, err
			}
			d, err := parseXML(e, s)
			if err != nil {
				return nil, err
			}
			if asElement {
				return d.root, nil
			}
			return d, nil
		})
	}
	xdoc.methods["Parse"] = parse(false)
	xel.methods["Parse"] = parse(true)
	xname.methods["Get"] = mth(1, 2, tXName, ts(tString, tString), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		if len(args) == 2 {
			local, err := argStr(args, 0, "localName")
			if err != nil {
				return nil, err
			}
			ns, err := argStr(args, 1, "namespaceName")
			if err != nil {
				return nil, err
			}
			if _, _, err := splitName(local); err != nil {
				return nil, err
			}
			return xName{ns, local}, nil
		}
		n, err := xmlName(args, 0)
		if err != nil {
			return nil, err
		}
		return xName{n[0], n[1]}, nil
	})
	xns.methods["Get"] = mth(1, 1, tXNamespace, ts(tString), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		s, err := argStr(args, 0, "namespaceName")
		return xNamespace(s), err
	})
	xns.props["None"] = constProp(tXNamespace, xNamespace(""))
	so := staticClass("SaveOptions")
	so.props["None"] = constProp(tSaveOpts, saveOptions(0))
	so.props["DisableFormatting"] = constProp(tSaveOpts, saveOptions(1))
	so.props["OmitDuplicateNamespaces"] = constProp(tSaveOpts, saveOptions(2))
	registerStatic(xdoc, xel, xattr, xns, xname, so)
	for name, t := range map[string]*typ{"XDocument": tXDocument, "XElement": tXElement, "XNode": tXElement, "XAttribute": tXAttribute, "XNamespace": tXNamespace, "XName": tXName} {
		typeNames[name] = t
	}
	tXNamespace.conv = func(v any) (any, bool) {
		switch v := v.(type) {
		case xNamespace:
			return v, true
		case string:
			return xNamespace(v), true
		}
		return nil, false
	}
	for _, t := range []*typ{tXDocument, tXElement, tXAttribute, tXName} {
		t := t
		t.conv = func(v any) (any, bool) {
			if typeOfValue(v) == t {
				return v, true
			}
			if s, ok := v.(string); ok && t == tXName {
				ns, local, err := splitName(s)
				return xName{ns, local}, err == nil
			}
			return nil, false
		}
	}
	// (string)element, (int)attribute, ...: the Value converted.
	for _, t := range []*typ{tString, tInt, tDouble, tBool, tDateTime, tTimeSpan, tGuid} {
		prev := t.conv
		if prev == nil {
			continue
		}
		t.conv = func(v any) (any, bool) {
			switch x := v.(type) {
			case *xElement:
				v = x.value()
			case *xAttribute:
				v = x.value
			}
			return prev(v)
		}
	}

	constructors["XDocument"] = mth(0, -1, tXDocument, nil, func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		d := &xDocument{}
		for _, a := range args {
			switch a := a.(type) {
			case nil:
			case *xElement:
				if d.root != nil {
					return nil, errors.New("This operation would create an incorrectly structured document.")
				}
				if a.parent != nil {
					a = a.clone()
				}
				d.root = a
				d.nodes = append(d.nodes, a)
			case *xDocument:
				c := a.root.clone()
				d.root = c
				d.nodes = append(d.nodes, c)
			default:
				return nil, fmt.Errorf("a document cannot contain %s", typeNameOf(a))
			}
		}
		return d, nil
	})
	constructors["XElement"] = mth(1, -1, tXElement, nil, func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		if src, ok := args[0].(*xElement); ok && len(args) == 1 {
			return src.clone(), nil
		}
		n, err := xmlName(args, 0)
		if err != nil {
			return nil, err
		}
		x := &xElement{ns: n[0], local: n[1]}
		return x, xmlContent(e, x, args[1:])
	})
	constructors["XAttribute"] = mth(2, 2, tXAttribute, nil, func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
		n, err := xmlName(args, 0)
		if err != nil {
			return nil, err
		}
		if args[1] == nil {
			return nil, errArgNull("value")
		}
		return &xAttribute{ns: n[0], local: n[1], value: xmlValueText(args[1])}, nil
	})

	nameProp := func(get func(v any) xName) *prop { return pr(tXName, func(v any) any { return get(v) }) }
	tXName.props = map[string]*prop{
		"LocalName":     pr(tString, func(v any) any { return v.(xName).local }),
		"NamespaceName": pr(tString, func(v any) any { return v.(xName).ns }),
		"Namespace":     pr(tXNamespace, func(v any) any { return xNamespace(v.(xName).ns) }),
	}
	tXNamespace.props = map[string]*prop{
		"NamespaceName": pr(tString, func(v any) any { return string(v.(xNamespace)) }),
	}
	tXNamespace.methods = map[string]*method{
		"GetName": mth(1, 1, tXName, ts(tString), func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			s, err := argStr(args, 0, "localName")
			if err != nil {
				return nil, err
			}
			if _, _, err := splitName(s); err != nil {
				return nil, err
			}
			return xName{string(r.(xNamespace)), s}, nil
		}),
	}

	// Members XDocument and XElement share (XContainer).
	container := func(t *typ, root func(v any) *xElement) {
		t.methods["Element"] = mth(1, 1, tXElement, nil, func(_ *env, _ *callInfo, r any, args []any) (any, error) {
			n, err := xmlName(args, 0)
			if err != nil {
				return nil, err
			}
			if d, ok := r.(*xDocument); ok {
				if d.root != nil && d.root.ns == n[0] && d.root.local == n[1] {
					return d.root, nil
				}
				return nil, nil
			}
			if els := root(r).elements(n); len(els) > 0 {
				return els[0], nil
			}
			return nil, nil
		})
		t.methods["Elements"] = mth(0, 1, tObjArr, nil, func(e *env, _ *callInfo, r any, args []any) (any, error) {
			n, err := optName(args, 0)
			if err != nil {
				return nil, err
			}
			if d, ok := r.(*xDocument); ok {
				if d.root != nil && (n == nil || d.root.ns == n[0] && d.root.local == n[1]) {
					return []any{d.root}, nil
				}
				return []any{}, nil
			}
			out := root(r).elements(n)
			return out, e.grow(16 * len(out))
		})
		t.methods["Descendants"] = mth(0, 1, tObjArr, nil, func(e *env, _ *callInfo, r any, args []any) (any, error) {
			n, err := optName(args, 0)
			if err != nil {
				return nil, err
			}
			x := root(r)
			if x == nil {
				return []any{}, nil
			}
			_, isDoc := r.(*xDocument)
			out := x.descendants(n, isDoc)
			return out, e.grow(16 * len(out))
		})
		t.methods["ToString"] = mth(0, 1, tString, ts(tSaveOpts), func(e *env, _ *callInfo, r any, args []any) (any, error) {
			indent, err := indentOf(args)
			if err != nil {
				return nil, err
			}
			var s string
			if d, ok := r.(*xDocument); ok {
				s = d.text(indent)
			} else {
				s = r.(*xElement).text(indent)
			}
			return s, e.grow(len(s))
		})
	}
	tXDocument.methods = map[string]*method{}
	tXDocument.props = map[string]*prop{
		"Root": pr(tXElement, func(v any) any { return nz(v.(*xDocument).root) }),
	}
	container(tXDocument, func(v any) *xElement { return v.(*xDocument).root })
	tXDocument.methods["Add"] = mth(1, -1, tVoid, nil, func(e *env, _ *callInfo, r any, args []any) (any, error) {
		d := r.(*xDocument)
		for _, a := range args {
			el, ok := a.(*xElement)
			if !ok || d.root != nil {
				return nil, errors.New("This operation would create an incorrectly structured document.")
			}
			if el.parent != nil {
				el = el.clone()
			}
			d.root = el
			d.nodes = append(d.nodes, el)
		}
		return nil, nil
	})

	tXElement.methods = map[string]*method{}
	container(tXElement, func(v any) *xElement { return v.(*xElement) })
	el := func(v any) *xElement { return v.(*xElement) }
	tXElement.props = map[string]*prop{
		"Name": nameProp(func(v any) xName { return xName{el(v).ns, el(v).local} }),
		"Value": {t: tString, get: func(_ *env, v any) (any, error) { return el(v).value(), nil },
			set: func(e *env, r, v any) error {
				if v == nil {
					return errArgNull("value")
				}
				x := el(r)
				x.nodes = nil
				x.addText(xmlValueText(v))
				return nil
			}},
		"Parent":        pr(tXElement, func(v any) any { return nz(el(v).parent) }),
		"HasElements":   pr(tBool, func(v any) any { return len(el(v).elements(nil)) > 0 }),
		"HasAttributes": pr(tBool, func(v any) any { return len(el(v).attrs) > 0 }),
		"IsEmpty":       pr(tBool, func(v any) any { return len(el(v).nodes) == 0 }),
	}
	tXElement.methods["DescendantsAndSelf"] = mth(0, 1, tObjArr, nil, func(e *env, _ *callInfo, r any, args []any) (any, error) {
		n, err := optName(args, 0)
		if err != nil {
			return nil, err
		}
		out := el(r).descendants(n, true)
		return out, e.grow(16 * len(out))
	})
	tXElement.methods["Attribute"] = mth(1, 1, tXAttribute, nil, func(_ *env, _ *callInfo, r any, args []any) (any, error) {
		n, err := xmlName(args, 0)
		if err != nil {
			return nil, err
		}
		return nz(el(r).attr(n[0], n[1])), nil
	})
	tXElement.methods["Attributes"] = mth(0, 1, tObjArr, nil, func(_ *env, _ *callInfo, r any, args []any) (any, error) {
		n, err := optName(args, 0)
		if err != nil {
			return nil, err
		}
		out := []any{}
		for _, a := range el(r).attrs {
			if n == nil || a.ns == n[0] && a.local == n[1] {
				out = append(out, a)
			}
		}
		return out, nil
	})
	tXElement.methods["Add"] = mth(1, -1, tVoid, nil, func(e *env, _ *callInfo, r any, args []any) (any, error) {
		return nil, xmlContent(e, el(r), args)
	})
	tXElement.methods["AddFirst"] = mth(1, -1, tVoid, nil, func(e *env, _ *callInfo, r any, args []any) (any, error) {
		x := el(r)
		tmp := &xElement{ns: x.ns, local: x.local, parent: x.parent}
		if err := xmlContent(e, tmp, args); err != nil {
			return nil, err
		}
		for _, n := range tmp.nodes {
			if c, ok := n.(*xElement); ok {
				c.parent = x
			}
		}
		x.nodes = append(tmp.nodes, x.nodes...)
		for _, a := range tmp.attrs {
			a.parent = x
			x.attrs = append(x.attrs, a)
		}
		return nil, nil
	})
	tXElement.methods["Remove"] = mth(0, 0, tVoid, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
		x := el(r)
		if x.parent == nil {
			return nil, errors.New("The parent is missing.")
		}
		x.parent.removeNode(x)
		x.parent = nil
		return nil, nil
	})
	tXElement.methods["RemoveAll"] = mth(0, 0, tVoid, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
		el(r).nodes, el(r).attrs = nil, nil
		return nil, nil
	})
	tXElement.methods["RemoveNodes"] = mth(0, 0, tVoid, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
		el(r).nodes = nil
		return nil, nil
	})
	tXElement.methods["RemoveAttributes"] = mth(0, 0, tVoid, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
		el(r).attrs = nil
		return nil, nil
	})
	tXElement.methods["SetValue"] = mth(1, 1, tVoid, nil, func(e *env, _ *callInfo, r any, args []any) (any, error) {
		return nil, tXElement.props["Value"].set(e, r, args[0])
	})
	tXElement.methods["SetAttributeValue"] = mth(2, 2, tVoid, nil, func(_ *env, _ *callInfo, r any, args []any) (any, error) {
		n, err := xmlName(args, 0)
		if err != nil {
			return nil, err
		}
		x := el(r)
		a := x.attr(n[0], n[1])
		switch {
		case args[1] == nil && a != nil:
			for i, c := range x.attrs {
				if c == a {
					x.attrs = append(x.attrs[:i], x.attrs[i+1:]...)
					break
				}
			}
		case args[1] == nil:
		case a != nil:
			a.value = xmlValueText(args[1])
		default:
			x.attrs = append(x.attrs, &xAttribute{ns: n[0], local: n[1], value: xmlValueText(args[1]), parent: x})
		}
		return nil, nil
	})
	tXElement.methods["SetElementValue"] = mth(2, 2, tVoid, nil, func(e *env, _ *callInfo, r any, args []any) (any, error) {
		n, err := xmlName(args, 0)
		if err != nil {
			return nil, err
		}
		x := el(r)
		var child *xElement
		if els := x.elements(n); len(els) > 0 {
			child = els[0].(*xElement)
		}
		switch {
		case args[1] == nil && child != nil:
			x.removeNode(child)
		case args[1] == nil:
		case child != nil:
			child.nodes = nil
			child.addText(xmlValueText(args[1]))
		default:
			c := &xElement{ns: n[0], local: n[1]}
			c.addText(xmlValueText(args[1]))
			return nil, x.add(e, c)
		}
		return nil, nil
	})
	tXElement.methods["ReplaceWith"] = mth(1, -1, tVoid, nil, func(e *env, _ *callInfo, r any, args []any) (any, error) {
		x := el(r)
		p := x.parent
		if p == nil {
			return nil, errors.New("The parent is missing.")
		}
		tmp := &xElement{}
		if err := xmlContent(e, tmp, args); err != nil {
			return nil, err
		}
		for i, n := range p.nodes {
			if n == x {
				for _, c := range tmp.nodes {
					if ce, ok := c.(*xElement); ok {
						ce.parent = p
					}
				}
				rest := append(append([]any{}, tmp.nodes...), p.nodes[i+1:]...)
				p.nodes = append(p.nodes[:i], rest...)
				break
			}
		}
		x.parent = nil
		return nil, nil
	})
	tXElement.methods["ReplaceNodes"] = mth(1, -1, tVoid, nil, func(e *env, _ *callInfo, r any, args []any) (any, error) {
		x := el(r)
		x.nodes = nil
		return nil, xmlContent(e, x, args)
	})

	attr := func(v any) *xAttribute { return v.(*xAttribute) }
	tXAttribute.props = map[string]*prop{
		"Name": nameProp(func(v any) xName { return xName{attr(v).ns, attr(v).local} }),
		"Value": {t: tString, get: func(_ *env, v any) (any, error) { return attr(v).value, nil },
			set: func(_ *env, r, v any) error {
				if v == nil {
					return errArgNull("value")
				}
				attr(r).value = xmlValueText(v)
				return nil
			}},
		"Parent": pr(tXElement, func(v any) any { return nz(attr(v).parent) }),
	}
	tXAttribute.methods = map[string]*method{
		"Remove": mth(0, 0, tVoid, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			a := attr(r)
			if a.parent == nil {
				return nil, errors.New("The parent is missing.")
			}
			x := a.parent
			for i, c := range x.attrs {
				if c == a {
					x.attrs = append(x.attrs[:i], x.attrs[i+1:]...)
					break
				}
			}
			a.parent = nil
			return nil, nil
		}),
		"SetValue": mth(1, 1, tVoid, nil, func(e *env, _ *callInfo, r any, args []any) (any, error) {
			return nil, tXAttribute.props["Value"].set(e, r, args[0])
		}),
	}
	for _, t := range []*typ{tXDocument, tXElement, tXAttribute, tXName, tXNamespace, tSaveOpts} {
		addObjectMethods(t)
	}
}
