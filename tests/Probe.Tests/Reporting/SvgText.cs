using System.Globalization;
using System.Xml.Linq;
using Probe.Reporting;
using SkiaSharp;

namespace Probe.Tests.Reporting;

/// <summary>One &lt;text&gt; element of an SVG: its string, font size, the box its glyphs cover, and the clip rectangle it is drawn in.</summary>
internal sealed record SvgTextBox(string Text, double FontSize, double Left, double Top, double Right, double Bottom, double ClipLeft, double ClipTop, double ClipRight, double ClipBottom)
{
    /// <summary>The four corners of the glyphs' box as drawn (rotated text: a rotated rectangle inside Left..Bottom).</summary>
    public (double X, double Y)[] Corners { get; init; } = [];

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"'{Text}' box [{Left:0.#}, {Right:0.#}] x [{Top:0.#}, {Bottom:0.#}], clip [{ClipLeft:0.#}, {ClipRight:0.#}] x [{ClipTop:0.#}, {ClipBottom:0.#}]");
}

/// <summary>
/// Reads the text of an SVG written by Skia's SVG canvas: each &lt;text&gt; has a transform (translate or matrix), glyph
/// x positions and one baseline y. The box runs from the first glyph's x to the last glyph's x plus that glyph's advance,
/// and from the baseline minus the font's ascent to plus its descent (DejaVu Sans metrics at the element's font size).
/// </summary>
internal static class SvgText
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    public static (double Width, double Height, List<SvgTextBox> Texts) Read(byte[] svg)
    {
        var doc = XDocument.Parse(System.Text.Encoding.UTF8.GetString(svg));
        var root = doc.Root!;
        double w = Num(root.Attribute("width")!.Value), h = Num(root.Attribute("height")!.Value);
        var clips = root.Descendants(Svg + "clipPath").ToDictionary(c => c.Attribute("id")!.Value, c =>
        {
            var r = c.Element(Svg + "rect")!;
            double x = Num(r.Attribute("x")?.Value ?? "0"), y = Num(r.Attribute("y")?.Value ?? "0");
            return (x, y, x + Num(r.Attribute("width")!.Value), y + Num(r.Attribute("height")!.Value));
        });
        var texts = new List<SvgTextBox>();
        Walk(root, (0, 0, w, h), clips, texts);
        return (w, h, texts);
    }

    private static void Walk(XElement e, (double L, double T, double R, double B) clip, Dictionary<string, (double, double, double, double)> clips, List<SvgTextBox> texts)
    {
        foreach (var child in e.Elements())
        {
            var c = clip;
            if (child.Attribute("clip-path")?.Value is string url)
            {
                var (l, t, r, b) = clips[url["url(#".Length..^1]];
                c = (Math.Max(c.L, l), Math.Max(c.T, t), Math.Min(c.R, r), Math.Min(c.B, b));
            }
            if (child.Name == Svg + "g" && child.Attribute("transform") != null)
                throw new InvalidOperationException("SvgText: transformed groups are not handled.");
            if (child.Name == Svg + "text") texts.Add(Box(child, c));
            else Walk(child, c, clips, texts);
        }
    }

    private static SvgTextBox Box(XElement t, (double L, double T, double R, double B) clip)
    {
        string text = t.Value.Trim();
        double size = Num(t.Attribute("font-size")!.Value);
        double weight = t.Attribute("font-weight")?.Value is string fw ? Num(fw) : 400;
        var xs = t.Attribute("x")!.Value.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries).Select(Num).ToArray();
        double y = Num(t.Attribute("y")!.Value.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries)[0]);
        using var paint = new SKPaint { Typeface = EmbeddedFonts.Get(FigureStyle.EmbeddedFontFamily, weight), TextSize = (float)size };
        paint.GetFontMetrics(out var m);
        double left = xs[0], right = xs[^1] + paint.MeasureText(text[^1].ToString());
        double top = y + m.Ascent, bottom = y + m.Descent;
        var (a, b, c, d, ex, f) = Matrix(t.Attribute("transform")?.Value);
        var corners = new[] { (left, top), (right, top), (left, bottom), (right, bottom) }
            .Select(p => (X: a * p.Item1 + c * p.Item2 + ex, Y: b * p.Item1 + d * p.Item2 + f)).ToArray();
        return new SvgTextBox(text, size, corners.Min(p => p.X), corners.Min(p => p.Y), corners.Max(p => p.X), corners.Max(p => p.Y),
            clip.L, clip.T, clip.R, clip.B) { Corners = [corners[0], corners[1], corners[3], corners[2]] };
    }

    private static (double, double, double, double, double, double) Matrix(string? transform)
    {
        if (transform is null) return (1, 0, 0, 1, 0, 0);
        int open = transform.IndexOf('('), close = transform.IndexOf(')');
        var v = transform[(open + 1)..close].Split([',', ' '], StringSplitOptions.RemoveEmptyEntries).Select(Num).ToArray();
        return transform.StartsWith("translate", StringComparison.Ordinal) ? (1, 0, 0, 1, v[0], v.Length > 1 ? v[1] : 0)
            : transform.StartsWith("matrix", StringComparison.Ordinal) ? (v[0], v[1], v[2], v[3], v[4], v[5])
            : throw new InvalidOperationException($"SvgText: transform '{transform}' is not handled.");
    }

    private static double Num(string s) => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>
    /// Whether the glyph boxes of two texts overlap by more than <paramref name="tolerance"/> units, rotated texts as
    /// the rotated rectangles they are (separating axes: two convex shapes are apart when their shadows on one of their
    /// edges' normals are).
    /// </summary>
    public static bool Overlap(SvgTextBox a, SvgTextBox b, double tolerance = 0.5)
    {
        foreach (var shape in new[] { a.Corners, b.Corners })
            for (int i = 0; i < 4; i++)
            {
                var (p, q) = (shape[i], shape[(i + 1) % 4]);
                double nx = q.Y - p.Y, ny = p.X - q.X, len = Math.Sqrt(nx * nx + ny * ny);
                if (len == 0) continue;
                var sa = a.Corners.Select(c => (c.X * nx + c.Y * ny) / len).ToArray();
                var sb = b.Corners.Select(c => (c.X * nx + c.Y * ny) / len).ToArray();
                if (sa.Max() <= sb.Min() + tolerance || sb.Max() <= sa.Min() + tolerance) return false;
            }
        return true;
    }

    /// <summary>Every pair of texts whose glyph boxes overlap (see <see cref="Overlap"/>), described.</summary>
    public static List<string> Clashes(IReadOnlyList<SvgTextBox> texts, double tolerance = 0.5)
    {
        var clashes = new List<string>();
        for (int i = 0; i < texts.Count; i++)
            for (int j = i + 1; j < texts.Count; j++)
                if (Overlap(texts[i], texts[j], tolerance)) clashes.Add($"{texts[i]} / {texts[j]}");
        return clashes;
    }

    /// <summary>Every text box that sticks out of the figure or out of the clip rectangle it is drawn in (by more than <paramref name="tolerance"/> units).</summary>
    public static List<SvgTextBox> Outside(double width, double height, IEnumerable<SvgTextBox> texts, double tolerance = 0.5) =>
        texts.Where(b => b.Left < Math.Max(0, b.ClipLeft) - tolerance || b.Top < Math.Max(0, b.ClipTop) - tolerance
            || b.Right > Math.Min(width, b.ClipRight) + tolerance || b.Bottom > Math.Min(height, b.ClipBottom) + tolerance).ToList();
}
