using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Probe.Reporting;

/// <summary>
/// A TrueType subset for embedding in a PDF. SkiaSharp 2.88's PDF backend is built without a font subsetter (it embeds
/// the whole 750 kB DejaVu Sans file in every PDF), so figures hand it a font that keeps only what the page draws: the
/// outlines of the glyphs of the given characters (plus .notdef and the components of composite glyphs), a cmap of just
/// those characters, and the tables a renderer needs (head, hhea, maxp, OS/2, hmtx, loca, glyf, name, post, cvt, fpgm,
/// prep, gasp). Glyph ids are unchanged, so text measures and lays out exactly as with the full font; unused glyphs
/// become empty and advance 0. The PostScript name gets the subset tag PDF readers expect (ISO 32000-1, 9.6.4):
/// six capital letters and '+', derived from the glyph set so output stays reproducible.
/// </summary>
internal static class FontSubset
{
    private static readonly string[] Keep = ["head", "hhea", "maxp", "OS/2", "hmtx", "cmap", "loca", "glyf", "name", "post", "cvt ", "fpgm", "prep", "gasp"];

    /// <summary>The subset of <paramref name="ttf"/> for <paramref name="codepoints"/>; throws when the file is not a TrueType (glyf) font.</summary>
    public static byte[] Create(byte[] ttf, IEnumerable<int> codepoints)
    {
        var tables = ReadDirectory(ttf);
        foreach (var t in new[] { "head", "hhea", "maxp", "hmtx", "cmap", "loca", "glyf" })
            if (!tables.ContainsKey(t)) throw new InvalidOperationException($"Font subset: the font has no '{t}' table.");
        var head = Slice(ttf, tables["head"]);
        int numGlyphs = U16(Slice(ttf, tables["maxp"]), 4);
        bool longLoca = I16(head, 50) == 1;
        var loca = ReadLoca(Slice(ttf, tables["loca"]), numGlyphs, longLoca);
        var glyf = Slice(ttf, tables["glyf"]);
        var cmap = ReadCmap(Slice(ttf, tables["cmap"]));

        var chars = new SortedDictionary<int, int>();
        foreach (int c in codepoints.Distinct())
            if (c <= 0xFFFF && cmap.TryGetValue(c, out int g) && g < numGlyphs) chars[c] = g;
        var used = new SortedSet<int> { 0 };
        var stack = new Stack<int>(chars.Values);
        while (stack.Count > 0)
        {
            int g = stack.Pop();
            if (!used.Add(g) && g != 0) continue;
            foreach (int part in Components(glyf, loca, g)) if (!used.Contains(part)) stack.Push(part);
        }

        // glyf and loca: outlines of the used glyphs, empty for the others (same glyph ids).
        var newGlyf = new MemoryStream();
        var offsets = new int[numGlyphs + 1];
        for (int g = 0; g < numGlyphs; g++)
        {
            offsets[g] = (int)newGlyf.Length;
            if (!used.Contains(g)) continue;
            newGlyf.Write(glyf, loca[g], loca[g + 1] - loca[g]);
            while (newGlyf.Length % 4 != 0) newGlyf.WriteByte(0);
        }
        offsets[numGlyphs] = (int)newGlyf.Length;
        bool newLong = offsets[numGlyphs] / 2 > 0xFFFF;
        var newLoca = new byte[(numGlyphs + 1) * (newLong ? 4 : 2)];
        for (int g = 0; g <= numGlyphs; g++)
            if (newLong) BinaryPrimitives.WriteInt32BigEndian(newLoca.AsSpan(4 * g), offsets[g]);
            else BinaryPrimitives.WriteUInt16BigEndian(newLoca.AsSpan(2 * g), (ushort)(offsets[g] / 2));
        var newHead = (byte[])head.Clone();
        BinaryPrimitives.WriteInt16BigEndian(newHead.AsSpan(50), (short)(newLong ? 1 : 0));
        BinaryPrimitives.WriteUInt32BigEndian(newHead.AsSpan(8), 0); // checkSumAdjustment, set below

        // hmtx: unused glyphs advance 0 (they are never drawn); the last long metric also serves the glyphs after it.
        var hmtx = Slice(ttf, tables["hmtx"]);
        int longMetrics = U16(Slice(ttf, tables["hhea"]), 34);
        for (int g = 0; g < Math.Min(longMetrics - 1, numGlyphs); g++)
            if (!used.Contains(g)) hmtx.AsSpan(4 * g, 4).Clear();

        var tag = Tag(used);
        var output = new SortedDictionary<string, byte[]>(StringComparer.Ordinal)
        {
            ["head"] = newHead,
            ["loca"] = newLoca,
            ["glyf"] = newGlyf.ToArray(),
            ["hmtx"] = hmtx,
            ["cmap"] = WriteCmap(chars),
        };
        if (tables.ContainsKey("post")) output["post"] = Post(Slice(ttf, tables["post"]));
        if (tables.ContainsKey("name")) output["name"] = Name(Slice(ttf, tables["name"]), tag);
        foreach (var t in Keep)
            if (!output.ContainsKey(t) && tables.TryGetValue(t, out var rec)) output[t] = Slice(ttf, rec);
        return Write(output);
    }

    /// <summary>Six capital letters from a hash of the glyph set (the same glyphs give the same tag).</summary>
    internal static string Tag(IEnumerable<int> glyphs)
    {
        var bytes = SHA256.HashData(Encoding.ASCII.GetBytes(string.Join(",", glyphs)));
        return new string(bytes.Take(6).Select(b => (char)('A' + b % 26)).ToArray());
    }

    private static Dictionary<string, (int Offset, int Length)> ReadDirectory(byte[] ttf)
    {
        uint version = BinaryPrimitives.ReadUInt32BigEndian(ttf);
        if (version != 0x00010000 && version != 0x74727565) throw new InvalidOperationException("Font subset: not a TrueType font.");
        int n = U16(ttf, 4);
        var d = new Dictionary<string, (int, int)>(StringComparer.Ordinal);
        for (int i = 0; i < n; i++)
        {
            int at = 12 + 16 * i;
            d[Encoding.ASCII.GetString(ttf, at, 4)] = ((int)BinaryPrimitives.ReadUInt32BigEndian(ttf.AsSpan(at + 8)), (int)BinaryPrimitives.ReadUInt32BigEndian(ttf.AsSpan(at + 12)));
        }
        return d;
    }

    private static int[] ReadLoca(byte[] loca, int numGlyphs, bool longFormat)
    {
        var o = new int[numGlyphs + 1];
        for (int g = 0; g <= numGlyphs; g++)
            o[g] = longFormat ? (int)BinaryPrimitives.ReadUInt32BigEndian(loca.AsSpan(4 * g)) : 2 * U16(loca, 2 * g);
        return o;
    }

    /// <summary>The glyph ids a composite glyph is built from (none for a simple or empty glyph).</summary>
    private static IEnumerable<int> Components(byte[] glyf, int[] loca, int g)
    {
        if (g + 1 >= loca.Length || loca[g + 1] - loca[g] < 10 || I16(glyf, loca[g]) >= 0) yield break;
        int at = loca[g] + 10;
        while (true)
        {
            int flags = U16(glyf, at);
            yield return U16(glyf, at + 2);
            at += 4 + ((flags & 0x1) != 0 ? 4 : 2);
            if ((flags & 0x8) != 0) at += 2;
            else if ((flags & 0x40) != 0) at += 4;
            else if ((flags & 0x80) != 0) at += 8;
            if ((flags & 0x20) == 0) yield break;
        }
    }

    /// <summary>Character to glyph map from the Windows Unicode BMP subtable (format 4).</summary>
    private static Dictionary<int, int> ReadCmap(byte[] cmap)
    {
        int n = U16(cmap, 2);
        for (int i = 0; i < n; i++)
        {
            int platform = U16(cmap, 4 + 8 * i), encoding = U16(cmap, 6 + 8 * i);
            int at = (int)BinaryPrimitives.ReadUInt32BigEndian(cmap.AsSpan(8 + 8 * i));
            if (platform != 3 || encoding != 1 || U16(cmap, at) != 4) continue;
            var map = new Dictionary<int, int>();
            int segs = U16(cmap, at + 6) / 2;
            int ends = at + 14, starts = ends + 2 * segs + 2, deltas = starts + 2 * segs, ranges = deltas + 2 * segs;
            for (int s = 0; s < segs; s++)
            {
                int end = U16(cmap, ends + 2 * s), start = U16(cmap, starts + 2 * s), delta = I16(cmap, deltas + 2 * s), range = U16(cmap, ranges + 2 * s);
                for (int c = start; c <= end && c != 0xFFFF; c++)
                {
                    int g = range == 0 ? (c + delta) & 0xFFFF : U16(cmap, ranges + 2 * s + range + 2 * (c - start));
                    if (range != 0 && g != 0) g = (g + delta) & 0xFFFF;
                    if (g != 0) map[c] = g;
                }
            }
            return map;
        }
        throw new InvalidOperationException("Font subset: the font has no Windows Unicode (3, 1) format-4 cmap.");
    }

    /// <summary>A cmap with one (3, 1) format-4 subtable: one segment per character, then the closing 0xFFFF segment.</summary>
    private static byte[] WriteCmap(SortedDictionary<int, int> chars)
    {
        int segs = chars.Count + 1, len = 16 + 8 * segs;
        var b = new byte[12 + len];
        W16(b, 0, 0); W16(b, 2, 1); W16(b, 4, 3); W16(b, 6, 1); BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8), 12);
        int at = 12;
        int pow = 1, log = 0;
        while (pow * 2 <= segs) { pow *= 2; log++; }
        W16(b, at, 4); W16(b, at + 2, len); W16(b, at + 4, 0); W16(b, at + 6, 2 * segs);
        W16(b, at + 8, 2 * pow); W16(b, at + 10, log); W16(b, at + 12, 2 * segs - 2 * pow);
        int ends = at + 14, starts = ends + 2 * segs + 2, deltas = starts + 2 * segs, ranges = deltas + 2 * segs;
        int s = 0;
        foreach (var (c, g) in chars.Append(new KeyValuePair<int, int>(0xFFFF, 0)))
        {
            W16(b, ends + 2 * s, c);
            W16(b, starts + 2 * s, c);
            W16(b, deltas + 2 * s, c == 0xFFFF ? 1 : (g - c) & 0xFFFF);
            W16(b, ranges + 2 * s, 0);
            s++;
        }
        return b;
    }

    /// <summary>post format 3: the same metrics, no glyph names.</summary>
    private static byte[] Post(byte[] post)
    {
        var b = post.AsSpan(0, 32).ToArray();
        BinaryPrimitives.WriteUInt32BigEndian(b, 0x00030000);
        return b;
    }

    /// <summary>The Windows-platform names (copyright, family, style, full name, version, licence ...) with the PostScript name tagged.</summary>
    private static byte[] Name(byte[] name, string tag)
    {
        int count = U16(name, 2), strings = U16(name, 4);
        var records = new List<(int Platform, int Encoding, int Language, int Id, byte[] Value)>();
        for (int i = 0; i < count; i++)
        {
            int at = 6 + 12 * i;
            int platform = U16(name, at), enc = U16(name, at + 2), lang = U16(name, at + 4), id = U16(name, at + 6), len = U16(name, at + 8), off = U16(name, at + 10);
            if (platform != 3 || enc != 1 || id > 14) continue;
            var value = name.AsSpan(strings + off, len).ToArray();
            if (id == 6) value = Encoding.BigEndianUnicode.GetBytes(tag + "+" + Encoding.BigEndianUnicode.GetString(value));
            records.Add((platform, enc, lang, id, value));
        }
        var ms = new MemoryStream();
        var header = new byte[6 + 12 * records.Count];
        W16(header, 2, records.Count); W16(header, 4, header.Length);
        int offset = 0;
        for (int i = 0; i < records.Count; i++)
        {
            var r = records[i];
            int at = 6 + 12 * i;
            W16(header, at, r.Platform); W16(header, at + 2, r.Encoding); W16(header, at + 4, r.Language); W16(header, at + 6, r.Id);
            W16(header, at + 8, r.Value.Length); W16(header, at + 10, offset);
            offset += r.Value.Length;
        }
        ms.Write(header);
        foreach (var r in records) ms.Write(r.Value);
        return ms.ToArray();
    }

    /// <summary>An sfnt file of the tables (sorted by tag, 4-byte aligned, checksums and head.checkSumAdjustment set).</summary>
    private static byte[] Write(SortedDictionary<string, byte[]> tables)
    {
        int n = tables.Count, pow = 1, log = 0;
        while (pow * 2 <= n) { pow *= 2; log++; }
        int size = 12 + 16 * n + tables.Values.Sum(t => (t.Length + 3) & ~3);
        var b = new byte[size];
        BinaryPrimitives.WriteUInt32BigEndian(b, 0x00010000);
        W16(b, 4, n); W16(b, 6, 16 * pow); W16(b, 8, log); W16(b, 10, 16 * n - 16 * pow);
        int at = 12 + 16 * n, i = 0, headAt = -1;
        foreach (var (tag, data) in tables)
        {
            int rec = 12 + 16 * i++;
            Encoding.ASCII.GetBytes(tag, b.AsSpan(rec, 4));
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(rec + 4), Checksum(data));
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(rec + 8), (uint)at);
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(rec + 12), (uint)data.Length);
            if (tag == "head") headAt = at;
            data.CopyTo(b, at);
            at += (data.Length + 3) & ~3;
        }
        if (headAt >= 0) BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(headAt + 8), unchecked(0xB1B0AFBA - Checksum(b)));
        return b;
    }

    private static uint Checksum(byte[] data)
    {
        uint sum = 0;
        for (int i = 0; i < data.Length; i += 4)
        {
            uint v = 0;
            for (int k = 0; k < 4; k++) v = (v << 8) | (i + k < data.Length ? data[i + k] : 0u);
            sum = unchecked(sum + v);
        }
        return sum;
    }

    private static byte[] Slice(byte[] b, (int Offset, int Length) r) => b.AsSpan(r.Offset, r.Length).ToArray();
    private static int U16(byte[] b, int at) => BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(at));
    private static int I16(byte[] b, int at) => BinaryPrimitives.ReadInt16BigEndian(b.AsSpan(at));
    private static void W16(byte[] b, int at, int v) => BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(at), (ushort)v);
}
