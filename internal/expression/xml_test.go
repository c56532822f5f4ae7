package expression

import "testing"

func TestXML(t *testing.T) {
	ctx := testContext()
	ctx.Request.Body = BytesBody([]byte(`<?xml version="1.0"?>
<order xmlns="urn:shop" id="7">
  <!-- a comment -->
  <item sku="A1" qty="2">Widget &amp; co</item>
  <item sku="B2" qty="1">Gadget</item>
  <customer><name>Ann</name></customer>
</order>`))
	runEvalCases(t, ctx, []evalCase{
		{`@(context.Request.Body.As<XDocument>().Root.Name.LocalName)`, "order"},
		{`@(context.Request.Body.As<XDocument>().Root.Name.NamespaceName)`, "urn:shop"},
		{`@(context.Request.Body.As<XDocument>(preserveContent: true).Root.Attribute("id").Value)`, "7"},
		{`@((int)context.Request.Body.As<XElement>().Attribute("id") + 1)`, int64(8)},
		{`@{
			XNamespace ns = "urn:shop";
			var doc = context.Request.Body.As<XDocument>();
			return doc.Root.Element(ns + "customer").Element(ns + "name").Value;
		}`, "Ann"},
		{`@{
			var ns = XNamespace.Get("urn:shop");
			var doc = context.Request.Body.As<XDocument>();
			return String.Join(",", doc.Descendants(ns + "item").Select(i => ((XElement)i).Attribute("sku").Value));
		}`, "A1,B2"},
		{`@(context.Request.Body.As<XDocument>().Descendants("{urn:shop}item").Count())`, int64(2)},
		{`@(context.Request.Body.As<XDocument>().Descendants().Count())`, int64(5)},
		{`@(context.Request.Body.As<XDocument>().Root.Elements().Count())`, int64(3)},
		{`@((string)context.Request.Body.As<XElement>().Element("{urn:shop}item"))`, "Widget & co"},
		{`@(context.Request.Body.As<XElement>().Element("item") == null)`, true},
		{`@(context.Request.Body.As<XElement>().Value)`, "Widget & coGadgetAnn"},
		{`@(context.Request.Body.As<XElement>().Name == "{urn:shop}order")`, true},
		{`@(context.Request.Body.As<XElement>().Element("{urn:shop}customer").ToString())`, `<customer xmlns="urn:shop">` + "\n  " + `<name>Ann</name>` + "\n" + `</customer>`},
		{`@(XElement.Parse("<a x=\"1\"><b>t</b><c/></a>").ToString())`, "<a x=\"1\">\n  <b>t</b>\n  <c />\n</a>"},
		{`@(XElement.Parse("<a x=\"1\"><b>t</b><c/></a>").ToString(SaveOptions.DisableFormatting))`, `<a x="1"><b>t</b><c /></a>`},
		{`@(XDocument.Parse("<a>mixed <b>bold</b> text</a>").ToString())`, "<a>mixed <b>bold</b> text</a>"},
		{`@(XElement.Parse("<p:a xmlns:p=\"urn:p\"><p:b p:k=\"v\"/></p:a>").ToString(SaveOptions.DisableFormatting))`, `<p:a xmlns:p="urn:p"><p:b p:k="v" /></p:a>`},
		{`@(XElement.Parse("<p:a xmlns:p=\"urn:p\"><p:b p:k=\"v\"/></p:a>").Element("{urn:p}b").Attribute("{urn:p}k").Value)`, "v"},
		// Building.
		{`@(new XElement("root", new XAttribute("id", 1), new XElement("a", "x & y"), new XElement("b"), new XElement("c", true, 2.5)).ToString())`,
			"<root id=\"1\">\n  <a>x &amp; y</a>\n  <b />\n  <c>true2.5</c>\n</root>"},
		{`@(new XElement("{urn:x}root", new XElement("{urn:x}child", "v"), new XElement("plain")).ToString(SaveOptions.DisableFormatting))`,
			`<root xmlns="urn:x"><child>v</child><plain xmlns="" /></root>`},
		{`@(new XDocument(new XElement("list", new[] {"a", "b"}.Select(s => new XElement("i", s)))).ToString(SaveOptions.DisableFormatting))`,
			`<list><i>a</i><i>b</i></list>`},
		{`@{
			var x = XElement.Parse("<a><b>1</b><c k=\"v\">2</c></a>");
			x.Element("b").Remove();
			x.Element("c").SetAttributeValue("k", null);
			x.Element("c").SetAttributeValue("n", 5);
			x.SetElementValue("d", "new");
			x.Element("c").Value = "3";
			x.Add(new XElement("e"));
			return x.ToString(SaveOptions.DisableFormatting);
		}`, `<a><c n="5">3</c><d>new</d><e /></a>`},
		{`@{
			var x = XElement.Parse("<a><b/><c/></a>");
			x.Element("b").ReplaceWith(new XElement("z", "1"));
			x.AddFirst(new XElement("first"));
			foreach (XElement el in x.Elements()) { el.SetAttributeValue("seen", "yes"); }
			return x.ToString(SaveOptions.DisableFormatting) + x.Elements().Count() + x.HasElements + x.Element("c").IsEmpty + (x.Element("c").Parent == x);
		}`, `<a><first seen="yes" /><z seen="yes">1</z><c seen="yes" /></a>3TrueTrueTrue`},
		{`@{
			var a = new XElement("a");
			var b = new XElement("b", a);
			a.Add(b); // b already contains a: a copy is added
			return a.ToString(SaveOptions.DisableFormatting);
		}`, `<a><b><a /></b></a>`},
		{`@(XElement.Parse("<a><b id=\"1\"/><b id=\"2\"/></a>").Elements("b").Select(e => ((XElement)e).Attribute("id").Value).Last())`, "2"},
		{`@(XElement.Parse("<a><b id=\"1\"/></a>").Element("b").Attribute("nope")?.Value ?? "none")`, "none"},
		{`@(XName.Get("x", "urn:n").ToString())`, "{urn:n}x"},
		{`@(new XAttribute("k", "a\"b").ToString())`, `k="a&quot;b"`},
	})
}

func TestXMLErrors(t *testing.T) {
	deep := ""
	for i := 0; i < 300; i++ {
		deep += "<a>"
	}
	runErrCases(t, [][2]string{
		{`@(XDocument.Parse("<a><b></a>"))`, "not well formed"},
		{`@(XDocument.Parse("<a/><b/>"))`, "multiple root elements"},
		{`@(XDocument.Parse("` + deep + `"))`, "nested deeper than 200"},
		{`@(new XElement("bad name"))`, "is not a valid XML name"},
		{`@{ XElement.Parse("<a/>").Remove(); return 1; }`, "The parent is missing."},
		{`@(context.Request.Body.As<XDocument>())`, "the body is not XML"},
		{`@(new XElement("a", new XAttribute("k", 1), new XAttribute("k", 2)))`, "Duplicate attribute."},
	})
	if _, err := Compile(`@((int)new XDocument())`); err == nil {
		t.Error("a cast of an XDocument to int compiled")
	}
}

func TestXMLUndeclaredPrefix(t *testing.T) {
	runErrCases(t, [][2]string{
		{`@(XElement.Parse("<p:a/>"))`, "'p' is an undeclared prefix"},
		{`@(XElement.Parse("<a q:x='1'/>"))`, "'q' is an undeclared prefix"},
		// A namespace whose URI is the undeclared prefix's word.
		{`@(XElement.Parse("<p:a xmlns:q='p'/>"))`, "'p' is an undeclared prefix"},
		{`@(XElement.Parse("<a xmlns:q='p' p:k='1'/>"))`, "'p' is an undeclared prefix"},
		// A prefix declared on a sibling is out of scope.
		{`@(XElement.Parse("<a><b xmlns:p='u'/><p:c/></a>"))`, "'p' is an undeclared prefix"},
		{`@(XElement.Parse("<q:a xmlns:q='p' xmlns:0='p'/>"))`, "'0' is not a valid namespace prefix"},
		{`@(XElement.Parse("<a xmlns:p=''/>"))`, "prefix 'p' is bound to an empty namespace"},
		{`@(XElement.Parse("<p:a xmlns:p='u'></q:a>"))`, "element <p:a> closed by </q:a>"},
		{`@(XElement.Parse("<p:a xmlns:p='u'></a>"))`, "element <p:a> closed by </a>"},
		{`@(XElement.Parse("<a><b>"))`, "element <b> is not closed"},
	})
	runEvalCases(t, testContext(), []evalCase{
		{`@(XElement.Parse("<a xml:lang='en'/>").Attribute("{http://www.w3.org/XML/1998/namespace}lang").Value)`, "en"},
		{`@(XElement.Parse("<a xml:lang='en'/>").ToString())`, `<a xml:lang="en" />`},
		{`@(XElement.Parse("<q:a xmlns:q='p'><q:b q:k='v'/></q:a>").Element("{p}b").Attribute("{p}k").Value)`, "v"},
		{`@(XElement.Parse("<a xmlns='d'><b xmlns=''/></a>").ToString(SaveOptions.DisableFormatting))`, `<a xmlns="d"><b xmlns="" /></a>`},
		{`@(XElement.Parse("<a xmlns:p='u'><p:b xmlns:p='v'/></a>").ToString(SaveOptions.DisableFormatting))`, `<a xmlns:p="u"><p:b xmlns:p="v" /></a>`},
		{`@(XElement.Parse("<a xmlns:p='u'><p:b xmlns:p='v'/></a>").Elements().First().Name.NamespaceName)`, "v"},
	})
}
