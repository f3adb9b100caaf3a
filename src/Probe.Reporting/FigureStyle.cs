namespace Probe.Reporting;

/// <summary>
/// Physical size and typography of an exported figure. Sizes are in inches, fonts and lines in points (1/72 in).
/// Use <see cref="Column"/> (3.5 in, one journal column) or <see cref="Page"/> (7 in, full text width).
/// </summary>
/// <param name="WidthInches">Figure width in inches.</param>
/// <param name="HeightInches">Figure height in inches.</param>
/// <param name="Dpi">Raster resolution for PNG export (dots per inch).</param>
/// <param name="FontSizePt">Base font size in points (tick labels, legend); titles are one point larger.</param>
/// <param name="LineWidthPt">Data line width in points; frames and ticks are drawn thinner.</param>
/// <param name="FontFamily">Font family; "DejaVu Sans" is embedded and used when a family is not installed.</param>
public sealed record FigureStyle(
    double WidthInches,
    double HeightInches,
    double Dpi = 300,
    double FontSizePt = 8,
    double LineWidthPt = 1.0,
    string FontFamily = FigureStyle.EmbeddedFontFamily)
{
    /// <summary>The font family shipped inside this assembly (DejaVu Sans, Bitstream Vera licence).</summary>
    public const string EmbeddedFontFamily = "DejaVu Sans";

    /// <summary>OxyPlot device-independent units per inch.</summary>
    internal const double UnitsPerInch = 96.0;

    /// <summary>
    /// Whether figures drawn with this style carry their title (true by default). A paper's figure usually has its
    /// title in the caption instead: <c>false</c> drops the figure title (panel and axis titles stay) and the space it took.
    /// </summary>
    public bool ShowTitle { get; init; } = true;

    /// <summary>One journal column: 3.5 x 2.6 in, 300 dpi, 8 pt text.</summary>
    public static FigureStyle Column { get; } = new(3.5, 2.6, 300, 8, 1.0);

    /// <summary>Full text width: 7 x 4.2 in, 300 dpi, 9 pt text.</summary>
    public static FigureStyle Page { get; } = new(7.0, 4.2, 300, 9, 1.0);

    /// <summary>
    /// A page's text height in inches (US letter with 1 in margins; A4 with 2.5 cm margins has 9.7 in): the tallest a
    /// figure sized to fit the page is made (<see cref="Figures.HeatmapStyle"/>), as <see cref="Page"/>'s width is its widest.
    /// </summary>
    public const double PageTextHeightInches = 9.0;

    /// <summary>Builds a style from a size in points (1/72 in).</summary>
    public static FigureStyle FromPoints(double widthPt, double heightPt, double dpi = 300, double fontSizePt = 8, double lineWidthPt = 1.0)
        => new(widthPt / 72.0, heightPt / 72.0, dpi, fontSizePt, lineWidthPt);

    /// <summary>Returns a copy with another height (inches).</summary>
    public FigureStyle WithHeight(double heightInches) => this with { HeightInches = heightInches };

    /// <summary>Returns a copy with another raster resolution.</summary>
    public FigureStyle WithDpi(double dpi) => this with { Dpi = dpi };

    /// <summary>Width in points (1/72 in).</summary>
    public double WidthPoints => WidthInches * 72.0;

    /// <summary>Height in points (1/72 in).</summary>
    public double HeightPoints => HeightInches * 72.0;

    /// <summary>PNG width in pixels: round(width x dpi).</summary>
    public int PixelWidth => (int)Math.Round(WidthInches * Dpi, MidpointRounding.AwayFromZero);

    /// <summary>PNG height in pixels: round(height x dpi).</summary>
    public int PixelHeight => (int)Math.Round(HeightInches * Dpi, MidpointRounding.AwayFromZero);

    /// <summary>Width in OxyPlot units (1/96 in).</summary>
    internal double WidthUnits => WidthInches * UnitsPerInch;

    /// <summary>Height in OxyPlot units (1/96 in).</summary>
    internal double HeightUnits => HeightInches * UnitsPerInch;

    /// <summary>Base font size in OxyPlot units.</summary>
    internal double FontUnits => FontSizePt * UnitsPerInch / 72.0;

    /// <summary>Data line width in OxyPlot units.</summary>
    internal double LineUnits => LineWidthPt * UnitsPerInch / 72.0;

    /// <summary>Converts points to OxyPlot units.</summary>
    internal static double Pt(double points) => points * UnitsPerInch / 72.0;

    /// <summary>Throws a <see cref="ProbeException"/> when a size, resolution or font setting is unusable.</summary>
    public void Validate()
    {
        static void Positive(double v, string name, double max)
        {
            if (!double.IsFinite(v) || v <= 0 || v > max)
                throw new ProbeException($"Figure style: {name} must be a positive number up to {max.ToString(System.Globalization.CultureInfo.InvariantCulture)}, got {v.ToString(System.Globalization.CultureInfo.InvariantCulture)}.");
        }
        Positive(WidthInches, "width (inches)", 100);
        Positive(HeightInches, "height (inches)", 100);
        Positive(Dpi, "dpi", 2400);
        Positive(FontSizePt, "font size (pt)", 200);
        Positive(LineWidthPt, "line width (pt)", 50);
        if ((long)PixelWidth * PixelHeight > 200_000_000L)
            throw new ProbeException($"Figure style: {PixelWidth} x {PixelHeight} pixels is too large; lower the dpi or the size.");
        if (string.IsNullOrWhiteSpace(FontFamily))
            throw new ProbeException("Figure style: font family is empty; use \"DejaVu Sans\" (embedded).");
    }
}
