using System.Globalization;
using OxyPlot;
using OxyPlot.Legends;
using OxyPlot.SkiaSharp;
using SkiaSharp;

namespace Probe.Reporting;

/// <summary>Output formats a figure can be exported to.</summary>
public enum FigureFormat
{
    /// <summary>Raster PNG at the style's dpi (with a pHYs chunk recording that dpi).</summary>
    Png,
    /// <summary>Scalable vector graphics; 1 user unit = 1/96 in.</summary>
    Svg,
    /// <summary>Single-page PDF; page size in points.</summary>
    Pdf,
}

/// <summary>
/// Exports OxyPlot models to PNG, SVG or PDF with a <see cref="FigureStyle"/>: physical size, dpi, fonts. Text uses
/// the embedded DejaVu Sans (see <see cref="EmbeddedFonts"/>). PNG and SVG output is byte-identical for identical
/// input; PDF output is too, because the document's creation/modification dates are pinned (see <see cref="PdfEpoch"/>).
/// </summary>
public static class FigureExporter
{
    /// <summary>File extensions understood by <see cref="Save"/>.</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".png", ".svg", ".pdf"];

    /// <summary>Creation and modification date written into every PDF, so PDFs are reproducible.</summary>
    public static DateTime PdfEpoch { get; } = new(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>Picks the format from a path's extension; throws a <see cref="ProbeException"/> listing the valid ones.</summary>
    public static FigureFormat FormatFromPath(string path)
    {
        var ext = Path.GetExtension(path).ToLowerInvariant();
        return ext switch
        {
            ".png" => FigureFormat.Png,
            ".svg" => FigureFormat.Svg,
            ".pdf" => FigureFormat.Pdf,
            _ => throw new ProbeException(
                $"Cannot export a figure to '{path}': unknown extension '{ext}'. Use one of {string.Join(", ", Extensions)}."),
        };
    }

    /// <summary>Writes the model to <paramref name="path"/>, format chosen by extension; creates the folder.</summary>
    public static void Save(PlotModel model, string path, FigureStyle? style = null)
    {
        var format = FormatFromPath(path);
        var bytes = Export(model, format, style);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        File.WriteAllBytes(path, bytes);
    }

    /// <summary>Writes <c>basePath + ext</c> for each extension (default .png, .svg, .pdf); returns the paths written.</summary>
    public static IReadOnlyList<string> SaveAll(PlotModel model, string basePath, FigureStyle? style = null, params string[] extensions)
    {
        if (extensions.Length == 0) extensions = [.. Extensions];
        var written = new List<string>();
        foreach (var ext in extensions)
        {
            var path = basePath + (ext.StartsWith('.') ? ext : "." + ext);
            Save(model, path, style);
            written.Add(path);
        }
        return written;
    }

    /// <summary>Renders the model to bytes in the given format.</summary>
    public static byte[] Export(PlotModel model, FigureFormat format, FigureStyle? style = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        style ??= FigureStyle.Column;
        style.Validate();
        ApplyTypography(model, style);
        return format switch
        {
            FigureFormat.Png => ExportPng(model, style),
            FigureFormat.Svg => ExportSvg(model, style),
            FigureFormat.Pdf => ExportPdf(model, style),
            _ => throw new ProbeException($"Unknown figure format {format}."),
        };
    }

    /// <summary>
    /// <paramref name="text"/> with each line longer than <paramref name="width"/> (OxyPlot units, at the font size and
    /// weight given) broken at spaces, greedily; a single word wider than the width stays whole on its own line.
    /// </summary>
    internal static string Wrap(string text, double width, FigureStyle style, double fontUnits, double weight)
    {
        var lines = new List<string>();
        foreach (var line in text.Split('\n'))
        {
            if (Figures.TextWidth(line, style, fontUnits, weight) <= width) { lines.Add(line); continue; }
            var current = "";
            foreach (var word in line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                string trial = current.Length == 0 ? word : current + " " + word;
                if (current.Length > 0 && Figures.TextWidth(trial, style, fontUnits, weight) > width) { lines.Add(current); current = word; }
                else current = trial;
            }
            lines.Add(current);
        }
        return string.Join('\n', lines);
    }

    /// <summary>Sets model-wide fonts and frame widths from the style (element sizes left at default follow these).</summary>
    internal static void ApplyTypography(PlotModel model, FigureStyle style)
    {
        double f = style.FontUnits;
        if (!style.ShowTitle)
        {
            model.Title = null;
            model.Subtitle = null;
        }
        model.DefaultFont = style.FontFamily;
        model.DefaultFontSize = f;
        model.TitleFont = style.FontFamily;
        model.TitleFontSize = f + FigureStyle.Pt(1);
        model.TitleFontWeight = FontWeights.Bold;
        model.SubtitleFont = style.FontFamily;
        model.SubtitleFontSize = f;
        model.TitlePadding = f * 0.5;
        model.Padding = new OxyThickness(f * 0.6);
        // A long title is centred on the whole figure rather than over the plot area (which sits off centre beside axis
        // labels and colour bars), and one wider than the figure is broken at spaces into lines that fit: OxyPlot clips
        // it otherwise (a similarity measure's full description at one column's width). Fitting lines are kept, so a
        // second call changes nothing.
        double room = style.WidthUnits - 2 * model.Padding.Left;
        bool Long(string? text, double size, double weight) => text is { Length: > 0 } && Figures.TextWidth(text, style, size, weight) > 0.6 * room;
        if (Long(model.Title, model.TitleFontSize, 700) || Long(model.Subtitle, model.SubtitleFontSize, 400))
        {
            model.TitleHorizontalAlignment = TitleHorizontalAlignment.CenteredWithinView;
            if (model.Title is { Length: > 0 } title) model.Title = Wrap(title, room, style, model.TitleFontSize, 700);
            if (model.Subtitle is { Length: > 0 } subtitle) model.Subtitle = Wrap(subtitle, room, style, model.SubtitleFontSize, 400);
        }
        var border = model.PlotAreaBorderThickness;
        if (border.Left + border.Right + border.Top + border.Bottom > 0)
            model.PlotAreaBorderThickness = new OxyThickness(FigureStyle.Pt(0.6));
        model.TextColor = OxyColor.FromRgb(0x22, 0x22, 0x22);
        model.PlotAreaBorderColor = OxyColor.FromRgb(0x44, 0x44, 0x44);
        foreach (var axis in model.Axes)
        {
            axis.Font = style.FontFamily;
            axis.AxislineThickness = FigureStyle.Pt(0.6);
            if (axis.MajorTickSize > 0) axis.MajorTickSize = f * 0.35;
            if (axis.MinorTickSize > 0) axis.MinorTickSize = f * 0.2;
            axis.AxisTickToLabelDistance = f * 0.25;
            axis.AxisTitleDistance = f * 0.5;
            axis.TicklineColor = OxyColor.FromRgb(0x44, 0x44, 0x44);
        }
        foreach (var legend in model.Legends)
        {
            legend.LegendFont = style.FontFamily;
            legend.LegendFontSize = f;
            legend.LegendTitleFont = style.FontFamily;
            legend.LegendTitleFontSize = f;
            legend.LegendSymbolLength = f * 1.2;
            legend.LegendPadding = f * 0.4;
            legend.LegendItemSpacing = f * 0.6;
            legend.LegendMargin = f * 0.4;
            legend.LegendSymbolMargin = f * 0.4;
        }
    }

    private static OxyColor BackgroundOf(PlotModel model) => model.Background.IsVisible() ? model.Background : OxyColors.White;

    private static byte[] ExportPng(PlotModel model, FigureStyle style)
    {
        int w = style.PixelWidth, h = style.PixelHeight;
        // An opaque background (white by default) makes every pixel opaque: the PNG is then written as RGB, without
        // an alpha channel that would hold 255 everywhere (about a third of the file).
        var background = BackgroundOf(model);
        var info = new SKImageInfo(w, h, SKColorType.Rgba8888, background.A == 255 ? SKAlphaType.Opaque : SKAlphaType.Premul);
        using var bitmap = new SKBitmap(info);
        float scale = (float)(style.Dpi / FigureStyle.UnitsPerInch);
        using (var canvas = new SKCanvas(bitmap))
        using (var rc = new ProbeRenderContext { RenderTarget = RenderTarget.PixelGraphic, SkCanvas = canvas, UseTextShaping = false, DpiScale = scale })
        {
            canvas.Clear(background.ToSKColor());
            Render(model, rc, w / scale, h / scale);
        }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new ProbeException("PNG encoding failed (SkiaSharp returned no data).");
        return PngDpi.WithPhysicalDpi(data.ToArray(), style.Dpi);
    }

    private static byte[] ExportSvg(PlotModel model, FigureStyle style)
    {
        float w = (float)style.WidthUnits, h = (float)style.HeightUnits;
        using var ms = new MemoryStream();
        bool smooth;
        using (var skStream = new SKManagedWStream(ms))
        {
            using (var canvas = SKSvgCanvas.Create(new SKRect(0, 0, w, h), skStream))
            using (var rc = new ProbeRenderContext { RenderTarget = RenderTarget.VectorGraphic, SkCanvas = canvas, UseTextShaping = false, DpiScale = 1 })
            {
                using var bg = new SKPaint { Color = BackgroundOf(model).ToSKColor(), Style = SKPaintStyle.Fill };
                canvas.DrawRect(new SKRect(0, 0, w, h), bg);
                Render(model, rc, w, h);
                smooth = rc.DrewSmoothImage;
            }
            skStream.Flush();
        }
        var svg = SvgIds.AddFontFallback(SvgCircles.Compact(SvgIds.Renumber(ms.ToArray())));
        return smooth ? svg : SvgIds.CrispImages(svg);
    }

    private static byte[] ExportPdf(PlotModel model, FigureStyle style)
    {
        float wPt = (float)style.WidthPoints, hPt = (float)style.HeightPoints;
        float scale = (float)(72.0 / FigureStyle.UnitsPerInch);
        var metadata = new SKDocumentPdfMetadata
        {
            Creator = "Probe",
            Producer = "Probe (SkiaSharp)",
            Creation = PdfEpoch,
            Modified = PdfEpoch,
            RasterDpi = (float)style.Dpi,
            EncodingQuality = 101,
            PdfA = false,
        };
        if (model.Title is { Length: > 0 } title) metadata.Title = title;
        // A first pass (drawing nothing) collects the characters of each embedded typeface; the PDF then embeds font
        // subsets of just those (SkiaSharp's PDF backend would embed the whole 750 kB font file, see FontSubset).
        var used = new Dictionary<SKTypeface, HashSet<int>>();
        using (var nothing = new SKNoDrawCanvas((int)Math.Ceiling(wPt), (int)Math.Ceiling(hPt)))
        using (var collect = new ProbeRenderContext
        {
            RenderTarget = RenderTarget.VectorGraphic, SkCanvas = nothing, UseTextShaping = false, DpiScale = scale,
            OnText = (typeface, text) =>
            {
                if (!used.TryGetValue(typeface, out var set)) used[typeface] = set = new HashSet<int>();
                for (int i = 0; i < text.Length; i++) set.Add(char.IsSurrogatePair(text, i) ? char.ConvertToUtf32(text, i++) : text[i]);
            },
        })
        {
            Render(model, collect, wPt / scale, hPt / scale);
        }
        var subsets = new Dictionary<SKTypeface, SKTypeface>();
        foreach (var (typeface, chars) in used)
            if (EmbeddedFonts.FileOf(typeface) is byte[] file && SKTypeface.FromData(SKData.CreateCopy(FontSubset.Create(file, chars))) is { } subset)
                subsets[typeface] = subset;
        using var ms = new MemoryStream();
        using (var skStream = new SKManagedWStream(ms))
        {
            using (var document = SKDocument.CreatePdf(skStream, metadata))
            {
                var canvas = document.BeginPage(wPt, hPt);
                using (var rc = new ProbeRenderContext { RenderTarget = RenderTarget.VectorGraphic, SkCanvas = canvas, UseTextShaping = false, DpiScale = scale, Typefaces = subsets })
                {
                    canvas.Clear(BackgroundOf(model).ToSKColor());
                    Render(model, rc, wPt / scale, hPt / scale);
                }
                document.EndPage();
                document.Close();
            }
            skStream.Flush();
        }
        foreach (var subset in subsets.Values) subset.Dispose();
        return ms.ToArray();
    }

    /// <summary>
    /// Lays the model out at the style's size without drawing anything, so that its plot area and axis scales are
    /// those of the exported figure (a figure can then fit its text to the room it has). A plot with equal scales
    /// (<see cref="PlotType.Cartesian"/>) zooms an axis on its first layout and keeps the zoom, which can move the
    /// tick labels and so the plot area: it is laid out a second time, as every later export lays it out.
    /// </summary>
    internal static void LayOut(PlotModel model, FigureStyle style)
    {
        using var nothing = new SKNoDrawCanvas((int)Math.Ceiling(style.WidthUnits), (int)Math.Ceiling(style.HeightUnits));
        using var rc = new ProbeRenderContext { RenderTarget = RenderTarget.VectorGraphic, SkCanvas = nothing, UseTextShaping = false, DpiScale = 1 };
        Render(model, rc, style.WidthUnits, style.HeightUnits);
        if (model.PlotType == PlotType.Cartesian) Render(model, rc, style.WidthUnits, style.HeightUnits);
    }

    private static void Render(PlotModel model, IRenderContext rc, double widthUnits, double heightUnits)
    {
        IPlotModel m = model;
        m.Update(true);
        m.Render(rc, new OxyRect(0, 0, widthUnits, heightUnits));
    }

    internal static string Invariant(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>
/// Skia's SVG canvas numbers clip paths (and other definitions) with a process-wide counter, so the same figure gets
/// different ids on each export. This renumbers every id="prefix_N" in order of appearance, with its references.
/// </summary>
internal static class SvgIds
{
    private static readonly System.Text.RegularExpressions.Regex IdDef = new("id=\"([A-Za-z]+)_([0-9A-Fa-f]+)\"");
    private static readonly System.Text.RegularExpressions.Regex IdRef = new("(id=\"|url\\(#|href=\"#)([A-Za-z]+_[0-9A-Fa-f]+)(?=[\")])");

    /// <summary>
    /// Glyph positions are computed with DejaVu Sans; viewers without it should fall back to a font with similar metrics
    /// (Bitstream Vera, Verdana) rather than a serif default.
    /// </summary>
    public static byte[] AddFontFallback(byte[] svg)
    {
        var text = System.Text.Encoding.UTF8.GetString(svg);
        text = text.Replace("font-family=\"DejaVu Sans\"", "font-family=\"DejaVu Sans, Bitstream Vera Sans, Verdana, sans-serif\"", StringComparison.Ordinal);
        return new System.Text.UTF8Encoding(false).GetBytes(text);
    }

    /// <summary>
    /// Marks every &lt;image&gt; to be scaled without smoothing, as the PNG draws it: Skia's SVG canvas writes a bitmap
    /// drawn without interpolation (one pixel a heatmap cell) with no rendering hint, so viewers blurred its cells. SVG
    /// 1.1's optimizeSpeed serves Inkscape and librsvg, CSS pixelated the browsers.
    /// </summary>
    public static byte[] CrispImages(byte[] svg)
    {
        var text = System.Text.Encoding.UTF8.GetString(svg);
        text = text.Replace("<image ", "<image image-rendering=\"optimizeSpeed\" style=\"image-rendering:pixelated\" ", StringComparison.Ordinal);
        return new System.Text.UTF8Encoding(false).GetBytes(text);
    }

    public static byte[] Renumber(byte[] svg)
    {
        var text = System.Text.Encoding.UTF8.GetString(svg);
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        var perPrefix = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (System.Text.RegularExpressions.Match m in IdDef.Matches(text))
        {
            string id = m.Groups[1].Value + "_" + m.Groups[2].Value;
            if (map.ContainsKey(id)) continue;
            int next = perPrefix.GetValueOrDefault(m.Groups[1].Value) + 1;
            perPrefix[m.Groups[1].Value] = next;
            map[id] = m.Groups[1].Value + "_" + next.ToString(CultureInfo.InvariantCulture);
        }
        if (map.Count == 0) return svg;
        text = IdRef.Replace(text, m => map.TryGetValue(m.Groups[2].Value, out var to) ? m.Groups[1].Value + to : m.Value);
        return new System.Text.UTF8Encoding(false).GetBytes(text);
    }
}

/// <summary>
/// Skia's SVG canvas writes every circular scatter marker as a closed path of 16 quadratic segments (about 1.6 kB each),
/// which made a 5 x 8 evolution grid of 500 points a panel a 20 MB file. This rewrites each such sub-path as the same
/// circle drawn with two arcs (centre and radius from the sub-path's own points, to 0.01 units), and leaves every other
/// path as it was.
/// </summary>
internal static class SvgCircles
{
    private static readonly System.Text.RegularExpressions.Regex PathData = new(" d=\"([^\"]*)\"");

    public static byte[] Compact(byte[] svg)
    {
        var text = System.Text.Encoding.UTF8.GetString(svg);
        text = PathData.Replace(text, m => " d=\"" + CompactPath(m.Groups[1].Value) + "\"");
        return new System.Text.UTF8Encoding(false).GetBytes(text);
    }

    /// <summary>Each sub-path "M x y (Q x y x y){16} [Z]" whose points lie on a circle becomes "M cx-r cy a r r 0 1 0 2r 0 a r r 0 1 0 -2r 0 Z".</summary>
    internal static string CompactPath(string d)
    {
        if (d.IndexOf('Q') < 0) return d;
        var parts = d.Split('M', StringSplitOptions.RemoveEmptyEntries);
        var sb = new System.Text.StringBuilder(d.Length / 8);
        foreach (var part in parts)
        {
            sb.Append('M');
            sb.Append(Circle(part) ?? part);
        }
        return sb.ToString();
    }

    static string? Circle(string sub)
    {
        string body = sub.TrimEnd();
        bool closed = body.EndsWith('Z');
        if (closed) body = body[..^1];
        var segments = body.Split('Q');
        if (segments.Length < 9 || segments.Skip(1).Any(q => q.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).Length != 4)) return null;
        var xs = new List<double>(); var ys = new List<double>();
        foreach (var seg in segments)
        {
            var nums = seg.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            for (int i = 0; i + 1 < nums.Length; i += 2)
            {
                if (!double.TryParse(nums[i], NumberStyles.Float, CultureInfo.InvariantCulture, out double x)
                    || !double.TryParse(nums[i + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out double y)) return null;
                xs.Add(x); ys.Add(y);
            }
        }
        // On-curve points: the start and the end of each quadratic segment (control points lie just outside the circle).
        var ox = xs.Where((_, i) => i % 2 == 0).ToArray();
        var oy = ys.Where((_, i) => i % 2 == 0).ToArray();
        double cx = (ox.Min() + ox.Max()) / 2, cy = (oy.Min() + oy.Max()) / 2;
        double r = (ox.Max() - ox.Min() + oy.Max() - oy.Min()) / 4;
        if (!(r > 0) || Math.Abs((ox.Max() - ox.Min()) - (oy.Max() - oy.Min())) > 0.02 * r) return null;
        // Every on-curve point (the end of each quadratic segment) must be at distance r from the centre.
        for (int k = 2; k < xs.Count; k += 2)
            if (Math.Abs(Math.Sqrt((xs[k] - cx) * (xs[k] - cx) + (ys[k] - cy) * (ys[k] - cy)) - r) > 0.02 * r) return null;
        string F(double v) => Math.Round(v, 2).ToString("0.##", CultureInfo.InvariantCulture);
        return $"{F(cx - r)} {F(cy)}a{F(r)} {F(r)} 0 1 0 {F(2 * r)} 0a{F(r)} {F(r)} 0 1 0 {F(-2 * r)} 0Z";
    }
}

/// <summary>Inserts a pHYs chunk into a PNG so viewers and LaTeX know its physical size.</summary>
internal static class PngDpi
{
    private static readonly uint[] Table = BuildTable();

    private static uint[] BuildTable()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }

    internal static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        uint c = 0xFFFFFFFFu;
        foreach (var b in bytes) c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }

    /// <summary>Returns the PNG with a pHYs chunk (pixels per metre) right after IHDR; input without IHDR is returned unchanged.</summary>
    public static byte[] WithPhysicalDpi(byte[] png, double dpi)
    {
        const int ihdrEnd = 8 + 4 + 4 + 13 + 4;
        if (png.Length < ihdrEnd || png[12] != (byte)'I' || png[13] != (byte)'H' || png[14] != (byte)'D' || png[15] != (byte)'R')
            return png;
        uint ppm = (uint)Math.Round(dpi / 0.0254, MidpointRounding.AwayFromZero);
        var chunk = new byte[4 + 4 + 9 + 4];
        WriteBE(chunk, 0, 9);
        chunk[4] = (byte)'p'; chunk[5] = (byte)'H'; chunk[6] = (byte)'Y'; chunk[7] = (byte)'s';
        WriteBE(chunk, 8, ppm);
        WriteBE(chunk, 12, ppm);
        chunk[16] = 1; // unit: metre
        WriteBE(chunk, 17, Crc32(chunk.AsSpan(4, 4 + 9)));
        var result = new byte[png.Length + chunk.Length];
        png.AsSpan(0, ihdrEnd).CopyTo(result);
        chunk.CopyTo(result.AsSpan(ihdrEnd));
        png.AsSpan(ihdrEnd).CopyTo(result.AsSpan(ihdrEnd + chunk.Length));
        return result;
    }

    private static void WriteBE(byte[] b, int at, uint v)
    {
        b[at] = (byte)(v >> 24); b[at + 1] = (byte)(v >> 16); b[at + 2] = (byte)(v >> 8); b[at + 3] = (byte)v;
    }
}
