using System.Globalization;

namespace Probe.Reporting;

/// <summary>
/// What a user asks of every figure a command or report draws: a width (inches), a raster resolution, a base font size
/// (points) and whether figures carry titles. Unset values keep each figure's own preset (a similarity heatmap grows
/// with its layers up to a page's text width, an evolution grid fills the page width). <see cref="Apply"/> turns a
/// figure's preset style into the one drawn.
/// </summary>
/// <param name="WidthInches">Figure width in inches; the height scales with it, a heatmap's follows its square cells (<see cref="Figures.HeatmapStyle"/>) (null: the figure's own width).</param>
/// <param name="Dpi">PNG resolution in dots per inch (null: the preset's, 300).</param>
/// <param name="FontSizePt">Base font size in points; titles are one point larger (null: the preset's, 8 or 9).</param>
/// <param name="Titles">False drops figure titles (and the room they take); panel and axis titles stay.</param>
public sealed record FigureSettings(double? WidthInches = null, double? Dpi = null, double? FontSizePt = null, bool Titles = true)
{
    /// <summary>Every figure at its preset size, resolution and font, with titles.</summary>
    public static FigureSettings Default { get; } = new();

    /// <summary>Largest width accepted, in inches.</summary>
    public const double MaxWidthInches = 100;

    /// <summary>Largest resolution accepted, in dots per inch.</summary>
    public const double MaxDpi = 2400;

    /// <summary>Largest font size accepted, in points.</summary>
    public const double MaxFontSizePt = 200;

    /// <summary>The style to draw with: <paramref name="preset"/> with the requested width (height scaled alike), dpi, font size and titles.</summary>
    public FigureStyle Apply(FigureStyle preset)
    {
        ArgumentNullException.ThrowIfNull(preset);
        Validate();
        var style = preset;
        if (WidthInches is double w)
            style = style with { WidthInches = w, HeightInches = preset.HeightInches * w / preset.WidthInches };
        if (Dpi is double d) style = style with { Dpi = d };
        if (FontSizePt is double f) style = style with { FontSizePt = f };
        if (!Titles) style = style with { ShowTitle = false };
        style.Validate();
        return style;
    }

    /// <summary>Throws a <see cref="ProbeException"/> naming the value when a width, resolution or font size is unusable.</summary>
    public void Validate()
    {
        foreach (var error in Errors(WidthInches, Dpi, FontSizePt)) throw new ProbeException(error);
    }

    /// <summary>What is wrong with the given values (empty when they are usable); each message names the setting and its range.</summary>
    public static IEnumerable<string> Errors(double? widthInches, double? dpi, double? fontSizePt)
    {
        string? Check(double? v, string name, double max, string unit)
        {
            if (v is not double x || double.IsFinite(x) && x > 0 && x <= max) return null;
            return $"{name} must be a positive number of {unit} up to {max.ToString(CultureInfo.InvariantCulture)}, got {x.ToString(CultureInfo.InvariantCulture)}.";
        }
        if (Check(widthInches, "The figure width", MaxWidthInches, "inches") is string a) yield return a;
        if (Check(dpi, "The resolution (dpi)", MaxDpi, "dots per inch") is string b) yield return b;
        if (Check(fontSizePt, "The font size", MaxFontSizePt, "points") is string c) yield return c;
    }
}
