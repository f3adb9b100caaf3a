using OxyPlot;
using OxyPlot.SkiaSharp;
using SkiaSharp;

namespace Probe.Reporting;

/// <summary>
/// SkiaSharp render context whose text uses <see cref="EmbeddedFonts"/> instead of the system font manager, so text
/// renders (and measures) identically on every machine. It re-implements IRenderContext's text members (the base
/// class's are not virtual); OxyPlot always calls through the interface. Text is drawn without shaping (Latin labels need none).
/// </summary>
internal sealed class ProbeRenderContext : SkiaRenderContext, IRenderContext
{
    /// <summary>Called with each typeface and line of text drawn (the PDF export collects the characters to subset the fonts).</summary>
    public Action<SKTypeface, string>? OnText { get; init; }

    /// <summary>Replaces a typeface when drawing (the PDF export swaps in font subsets; glyph ids and metrics are the same).</summary>
    public IReadOnlyDictionary<SKTypeface, SKTypeface>? Typefaces { get; init; }

    /// <summary>Whether an image was drawn interpolated (smoothed); the SVG export marks images crisp only when none was.</summary>
    public bool DrewSmoothImage { get; private set; }

    /// <inheritdoc />
    public new void DrawImage(OxyImage source, double srcX, double srcY, double srcWidth, double srcHeight, double destX, double destY,
        double destWidth, double destHeight, double opacity, bool interpolate)
    {
        if (interpolate) DrewSmoothImage = true;
        base.DrawImage(source, srcX, srcY, srcWidth, srcHeight, destX, destY, destWidth, destHeight, opacity, interpolate);
    }

    private SKPaint CreateTextPaint(string? fontFamily, double fontSize, double fontWeight)
    {
        var typeface = EmbeddedFonts.Get(fontFamily, fontWeight);
        return new SKPaint
        {
            Typeface = Typefaces != null && Typefaces.TryGetValue(typeface, out var swapped) ? swapped : typeface,
            TextSize = (float)(fontSize * DpiScale),
            IsAntialias = true,
            SubpixelText = true,
            LcdRenderText = false,
            HintingLevel = SKPaintHinting.NoHinting,
            Style = SKPaintStyle.Fill,
        };
    }

    private static string[] SplitLines(string text) => text.Replace("\r\n", "\n").Split('\n');

    /// <inheritdoc />
    public new void DrawText(ScreenPoint p, string text, OxyColor fill, string? fontFamily = null, double fontSize = 10,
        double fontWeight = 400, double rotation = 0, HorizontalAlignment horizontalAlignment = HorizontalAlignment.Left,
        VerticalAlignment verticalAlignment = VerticalAlignment.Top, OxySize? maxSize = null)
    {
        if (string.IsNullOrEmpty(text) || !fill.IsVisible() || SkCanvas is null) return;
        OnText?.Invoke(EmbeddedFonts.Get(fontFamily, fontWeight), text);
        using var paint = CreateTextPaint(fontFamily, fontSize, fontWeight);
        paint.Color = fill.ToSKColor();
        var lines = SplitLines(text);
        float lineHeight = paint.GetFontMetrics(out var metrics);
        float dy = verticalAlignment switch
        {
            VerticalAlignment.Top => -metrics.Ascent,
            VerticalAlignment.Middle => -(metrics.Ascent + metrics.Descent + lineHeight * (lines.Length - 1)) / 2,
            _ => -metrics.Descent - lineHeight * (lines.Length - 1),
        };

        var canvas = SkCanvas;
        int save = canvas.Save();
        canvas.Translate((float)(p.X * DpiScale), (float)(p.Y * DpiScale));
        if (rotation != 0) canvas.RotateDegrees((float)rotation);
        foreach (var line in lines)
        {
            float width = paint.MeasureText(line);
            float dx = horizontalAlignment switch
            {
                HorizontalAlignment.Left => 0,
                HorizontalAlignment.Center => -width / 2,
                _ => -width,
            };
            canvas.DrawText(line, dx, dy, paint);
            dy += lineHeight;
        }
        canvas.RestoreToCount(save);
    }

    /// <inheritdoc />
    public new OxySize MeasureText(string text, string? fontFamily = null, double fontSize = 10, double fontWeight = 500)
    {
        if (string.IsNullOrEmpty(text)) return new OxySize(0, 0);
        using var paint = CreateTextPaint(fontFamily, fontSize, fontWeight);
        var lines = SplitLines(text);
        float lineHeight = paint.GetFontMetrics(out _);
        float width = 0;
        foreach (var line in lines) width = Math.Max(width, paint.MeasureText(line));
        return new OxySize(width / DpiScale, lineHeight * lines.Length / DpiScale);
    }
}
