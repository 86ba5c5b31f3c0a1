#!/usr/bin/env python3
"""Renders a crate's public API from rustdoc's JSON output, one item per line.

    public-api.py target/doc/resilience_core.json > api/resilience-core.txt

Every public item reachable from the crate root is listed under each public
path it can be named by (re-exports included): modules, types with their
public fields and variants, functions and methods with their signatures,
trait impls (`impl Trait for Type`), constants and macros. Deprecated items
are marked. Lines are sorted, so the listing diffs cleanly.

Types are written with the last segment of their path (`Duration`, not
`std::time::Duration`): the listing is for reviewing what changed, not for
compiling. Auto-trait and blanket impls are left out (they follow from the
rest). Items hidden from the docs (deprecated aliases, mostly) are listed
too, marked `#[doc(hidden)]`: they are still public. scripts/api-snapshot.sh
generates the JSON and compares the listings with the committed snapshots
in `api/`.
"""

import json
import sys

SUPPORTED_FORMATS = range(50, 80)


class Renderer:
    def __init__(self, doc):
        self.doc = doc
        self.index = doc["index"]
        self.paths = doc.get("paths", {})
        self.lines = set()

    def item(self, id_):
        return self.index.get(str(id_))

    # ---- types -----------------------------------------------------------

    def ty(self, t):
        if t is None:
            return "()"
        if isinstance(t, str):
            return "_" if t == "infer" else t
        (kind, v), = t.items()
        if kind == "resolved_path":
            return self.path(v)
        if kind == "generic":
            return v
        if kind == "primitive":
            return v
        if kind == "tuple":
            return "(" + ", ".join(self.ty(x) for x in v) + ("," if len(v) == 1 else "") + ")"
        if kind == "slice":
            return "[" + self.ty(v) + "]"
        if kind == "array":
            return "[" + self.ty(v["type"]) + "; " + str(v["len"]) + "]"
        if kind == "borrowed_ref":
            lt = (v.get("lifetime") + " ") if v.get("lifetime") else ""
            return "&" + lt + ("mut " if v.get("is_mutable") else "") + self.ty(v["type"])
        if kind == "raw_pointer":
            return "*" + ("mut " if v.get("is_mutable") else "const ") + self.ty(v["type"])
        if kind == "impl_trait":
            return "impl " + self.bounds(v)
        if kind == "dyn_trait":
            parts = [self.poly_trait(p) for p in v.get("traits", [])]
            if v.get("lifetime"):
                parts.append(v["lifetime"])
            return "dyn " + " + ".join(parts)
        if kind == "qualified_path":
            self_ty = self.ty(v["self_type"])
            trait = v.get("trait")
            base = f"<{self_ty} as {self.path(trait)}>" if trait else self_ty
            return base + "::" + v["name"] + self.args(v.get("args"))
        if kind == "function_pointer":
            sig = v.get("sig") or v.get("decl")
            return "fn(" + ", ".join(self.ty(x[1]) for x in sig["inputs"]) + ")" + self.ret(sig.get("output"))
        if kind == "pat":
            return self.ty(v["type"])
        return f"<{kind}>"

    def path(self, p):
        name = p.get("path") or p.get("name") or ""
        name = name.split("::")[-1]
        return name + self.args(p.get("args"))

    def args(self, a):
        if not a:
            return ""
        if isinstance(a, str):
            return ""
        (kind, v), = a.items()
        if kind == "angle_bracketed":
            parts = []
            for arg in v.get("args", []):
                if isinstance(arg, str):
                    parts.append("_")
                    continue
                (k, x), = arg.items()
                if k == "type":
                    parts.append(self.ty(x))
                elif k == "lifetime":
                    parts.append(x)
                elif k == "const":
                    parts.append(x.get("expr") or x.get("value") or "_")
            for c in v.get("constraints", v.get("bindings", [])):
                binding = c.get("binding")
                name = c["name"] + self.args(c.get("args"))
                if "equality" in binding:
                    eq = binding["equality"]
                    parts.append(f"{name} = {self.ty(eq.get('type', eq))}")
                else:
                    parts.append(f"{name}: {self.bounds(binding['constraint'])}")
            return "<" + ", ".join(parts) + ">" if parts else ""
        if kind == "parenthesized":
            return "(" + ", ".join(self.ty(x) for x in v["inputs"]) + ")" + self.ret(v.get("output"))
        return ""

    def ret(self, out):
        return "" if out is None else " -> " + self.ty(out)

    def poly_trait(self, p):
        hr = self.hrtb(p.get("generic_params", []))
        return hr + self.path(p["trait"])

    def hrtb(self, params):
        names = [g["name"] for g in params]
        return f"for<{', '.join(names)}> " if names else ""

    def bounds(self, bs):
        out = []
        for b in bs:
            if "trait_bound" in b:
                tb = b["trait_bound"]
                mod = {"maybe": "?", "maybe_const": "~const "}.get(tb.get("modifier"), "")
                out.append(mod + self.hrtb(tb.get("generic_params", [])) + self.path(tb["trait"]))
            elif "outlives" in b:
                out.append(b["outlives"])
            elif "use" in b:
                out.append("use<" + ", ".join(str(x) for x in b["use"]) + ">")
        return " + ".join(out)

    def generics(self, g):
        params = []
        for p in g.get("params", []):
            kind = p["kind"]
            if "lifetime" in kind:
                outl = kind["lifetime"].get("outlives", [])
                params.append(p["name"] + (": " + " + ".join(outl) if outl else ""))
            elif "type" in kind:
                if kind["type"].get("is_synthetic"):
                    continue  # `impl Trait` argument, shown in place
                b = self.bounds(kind["type"].get("bounds", []))
                d = kind["type"].get("default")
                params.append(p["name"] + (": " + b if b else "") + (" = " + self.ty(d) if d else ""))
            elif "const" in kind:
                params.append("const " + p["name"] + ": " + self.ty(kind["const"]["type"]))
        return "<" + ", ".join(params) + ">" if params else ""

    def where(self, g):
        preds = []
        for w in g.get("where_predicates", []):
            if "bound_predicate" in w:
                bp = w["bound_predicate"]
                preds.append(self.hrtb(bp.get("generic_params", [])) + self.ty(bp["type"]) + ": " + self.bounds(bp["bounds"]))
            elif "lifetime_predicate" in w:
                lp = w["lifetime_predicate"]
                preds.append(lp["lifetime"] + ": " + " + ".join(lp["outlives"]))
            elif "eq_predicate" in w:
                ep = w["eq_predicate"]
                preds.append(self.ty(ep["lhs"]) + " = " + self.ty(ep["rhs"].get("type", ep["rhs"])))
        return " where " + ", ".join(preds) if preds else ""

    # ---- items -----------------------------------------------------------

    def emit(self, line, item):
        if item.get("deprecation") is not None:
            line = "#[deprecated] " + line
        if self.hidden(item):
            line = "#[doc(hidden)] " + line
        self.lines.add(line)

    @staticmethod
    def hidden(item):
        for a in item.get("attrs", []):
            text = a if isinstance(a, str) else " ".join(str(v) for v in a.values())
            if "doc(hidden)" in text.replace(" ", ""):
                return True
        return False

    def fn_sig(self, name, f, self_ty=None):
        h = f.get("header", {})
        quals = ("const " if h.get("is_const") else "") + ("async " if h.get("is_async") else "") + ("unsafe " if h.get("is_unsafe") else "")
        inputs = []
        for arg_name, t in f["sig"]["inputs"]:
            if arg_name == "self":
                if t == {"generic": "Self"}:
                    inputs.append("self")
                elif "borrowed_ref" in t and t["borrowed_ref"]["type"] == {"generic": "Self"}:
                    r = t["borrowed_ref"]
                    lt = (r["lifetime"] + " ") if r.get("lifetime") else ""
                    inputs.append("&" + lt + ("mut " if r.get("is_mutable") else "") + "self")
                else:
                    inputs.append("self: " + self.ty(t))
            else:
                inputs.append(f"{arg_name}: {self.ty(t)}")
        g = f.get("generics", {})
        return f"{quals}fn {name}{self.generics(g)}({', '.join(inputs)}){self.ret(f['sig'].get('output'))}{self.where(g)}"

    def render(self, path, item, seen):
        inner = item["inner"]
        (kind, v), = inner.items()
        if kind == "module":
            if item["id"] in seen:
                self.emit(f"pub mod {path}", item)
                return
            seen = seen | {item["id"]}
            self.emit(f"pub mod {path}", item)
            self.module_items(path, v, seen)
        elif kind == "use":
            self.use_(path.rsplit("::", 1)[0], item, v, seen)
        elif kind == "struct":
            self.struct(path, item, v)
        elif kind == "enum":
            self.enum(path, item, v)
        elif kind == "union":
            self.emit(f"pub union {path}{self.generics(v['generics'])}", item)
            self.impls(path, v.get("impls", []))
        elif kind == "trait":
            self.trait(path, item, v)
        elif kind == "function":
            name = path.rsplit("::", 1)[-1]
            prefix = path.rsplit("::", 1)[0]
            self.emit(f"pub {self.fn_sig(name, v)}".replace(f"fn {name}", f"fn {prefix}::{name}", 1), item)
        elif kind == "type_alias":
            self.emit(f"pub type {path}{self.generics(v['generics'])} = {self.ty(v['type'])}", item)
        elif kind == "constant":
            self.emit(f"pub const {path}: {self.ty(v['type'])}", item)
        elif kind == "static":
            self.emit(f"pub static {path}: {self.ty(v['type'])}", item)
        elif kind in ("macro", "proc_macro"):
            self.emit(f"macro {path}!", item)
        elif kind == "trait_alias":
            self.emit(f"pub trait {path} = {self.bounds(v['params'])}", item)
        else:
            self.emit(f"{kind} {path}", item)

    def module_items(self, path, module, seen):
        for id_ in module.get("items", []):
            it = self.item(id_)
            if it is None or it.get("visibility") != "public":
                continue
            if "use" in it["inner"]:
                self.use_(path, it, it["inner"]["use"], seen)
                continue
            self.render(f"{path}::{it['name']}", it, seen)

    def use_(self, path, item, u, seen):
        target = self.item(u["id"]) if u.get("id") is not None else None
        if u.get("is_glob"):
            if target is not None and "module" in target["inner"]:
                self.module_items(path, target["inner"]["module"], seen)
            elif target is not None and "enum" in target["inner"]:
                for vid in target["inner"]["enum"].get("variants", []):
                    var = self.item(vid)
                    self.emit(f"pub use {path}::{var['name']}", var)
            else:
                self.emit(f"pub use {path}::* = {u['source']}::*", item)
            return
        if target is None or target.get("crate_id", 0) != 0:
            source = u["source"]
            if source.split("::")[-1] == u["name"]:
                self.emit(f"pub use {path}::{u['name']} = {source}", item)
            else:
                self.emit(f"pub use {path}::{u['name']} = {source}", item)
            return
        self.render(f"{path}::{u['name']}", target, seen)

    def struct(self, path, item, v):
        kind = v["kind"]
        g = v["generics"]
        head = f"pub struct {path}{self.generics(g)}{self.where(g)}"
        if kind == "unit":
            self.emit(head, item)
        elif "tuple" in kind:
            fields = []
            for fid in kind["tuple"]:
                f = self.item(fid) if fid is not None else None
                fields.append(f"pub {self.ty(f['inner']['struct_field'])}" if f and f.get("visibility") == "public" else "_")
            self.emit(f"{head}({', '.join(fields)})", item)
        else:
            self.emit(head, item)
            for fid in kind["plain"]["fields"]:
                f = self.item(fid)
                if f and f.get("visibility") == "public":
                    self.emit(f"pub {path}::{f['name']}: {self.ty(f['inner']['struct_field'])}", f)
        self.impls(path, v.get("impls", []))

    def enum(self, path, item, v):
        g = v["generics"]
        self.emit(f"pub enum {path}{self.generics(g)}{self.where(g)}", item)
        for vid in v.get("variants", []):
            var = self.item(vid)
            vk = var["inner"]["variant"]["kind"]
            name = f"pub {path}::{var['name']}"
            if vk == "plain":
                self.emit(name, var)
            elif "tuple" in vk:
                tys = []
                for fid in vk["tuple"]:
                    f = self.item(fid) if fid is not None else None
                    tys.append(self.ty(f["inner"]["struct_field"]) if f else "_")
                self.emit(f"{name}({', '.join(tys)})", var)
            else:
                self.emit(name, var)
                for fid in vk["struct"]["fields"]:
                    f = self.item(fid)
                    self.emit(f"pub {path}::{var['name']}::{f['name']}: {self.ty(f['inner']['struct_field'])}", f)
        self.impls(path, v.get("impls", []))

    def trait(self, path, item, v):
        g = v["generics"]
        sup = self.bounds(v.get("bounds", []))
        unsafe = "unsafe " if v.get("is_unsafe") else ""
        self.emit(f"pub {unsafe}trait {path}{self.generics(g)}{': ' + sup if sup else ''}{self.where(g)}", item)
        for mid in v.get("items", []):
            m = self.item(mid)
            (k, mv), = m["inner"].items()
            if k == "function":
                provided = " (provided)" if mv.get("has_body") else ""
                self.emit(f"pub {self.fn_sig(m['name'], mv).replace('fn ', 'fn ' + path + '::', 1)}{provided}", m)
            elif k == "assoc_type":
                b = self.bounds(mv.get("bounds", []))
                self.emit(f"pub type {path}::{m['name']}{': ' + b if b else ''}", m)
            elif k == "assoc_const":
                self.emit(f"pub const {path}::{m['name']}: {self.ty(mv['type'])}", m)

    def impls(self, path, impl_ids):
        for iid in impl_ids:
            imp = self.item(iid)
            if imp is None:
                continue
            v = imp["inner"]["impl"]
            if v.get("is_synthetic") or v.get("blanket_impl") is not None:
                continue
            g = v["generics"]
            if v.get("trait") is None:
                for mid in v.get("items", []):
                    m = self.item(mid)
                    if m is None or m.get("visibility") != "public":
                        continue
                    (k, mv), = m["inner"].items()
                    if k == "function":
                        sig = self.fn_sig(m["name"], mv).replace("fn ", "fn " + path + "::", 1)
                        gen = self.generics(g)
                        self.emit(f"pub {sig}" + (f"  [impl{gen}{self.where(g)}]" if gen or self.where(g) else ""), m)
                    elif k == "assoc_const":
                        self.emit(f"pub const {path}::{m['name']}: {self.ty(mv['type'])}", m)
                    elif k == "assoc_type":
                        self.emit(f"pub type {path}::{m['name']} = {self.ty(mv.get('type'))}", m)
            else:
                neg = "!" if v.get("is_negative") else ""
                self.emit(f"impl{self.generics(g)} {neg}{self.path(v['trait'])} for {self.ty(v['for'])}{self.where(g)}", imp)

    def run(self):
        root = self.item(self.doc["root"])
        self.emit(f"pub mod {root['name']}", root)
        self.module_items(root["name"], root["inner"]["module"], {root["id"]})
        return sorted(self.lines)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    if doc.get("format_version") not in SUPPORTED_FORMATS:
        sys.exit(f"public-api.py: rustdoc JSON format {doc.get('format_version')} is not one this script knows ({SUPPORTED_FORMATS.start}-{SUPPORTED_FORMATS.stop - 1})")
    for line in Renderer(doc).run():
        print(line)


if __name__ == "__main__":
    main()
