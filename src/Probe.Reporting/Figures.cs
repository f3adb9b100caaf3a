using System.Globalization;
using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;

namespace Probe.Reporting;

/// <summary>
/// Paper-quality figures built from plain arrays. Each method returns an OxyPlot <see cref="PlotModel"/>; export it
/// with <see cref="FigureExporter"/> or <see cref="Save"/>. The optional style sets fonts, line widths and margins
/// (pass the same style to the exporter).
/// </summary>
public static partial class Figures
{
    /// <summary>Saves a figure; the format comes from the extension (.png, .svg, .pdf).</summary>
    public static void Save(PlotModel model, string path, FigureStyle? style = null) => FigureExporter.Save(model, path, style);

    /// <summary>Saves a figure as <c>basePath.png/.svg/.pdf</c>; returns the paths written.</summary>
    public static IReadOnlyList<string> SaveAll(PlotModel model, string basePath, FigureStyle? style = null)
        => FigureExporter.SaveAll(model, basePath, style);

    internal static PlotModel NewModel(string? title, FigureStyle style)
    {
        var model = new PlotModel
        {
            Title = string.IsNullOrEmpty(title) || !style.ShowTitle ? null : title,
            Background = OxyColors.White,
            IsLegendVisible = true,
            Culture = CultureInfo.InvariantCulture, // tick labels: 0.5, never 0,5, whatever the current culture
        };
        FigureExporter.ApplyTypography(model, style);
        return model;
    }

    internal static LinearAxis ValueAxis(AxisPosition position, string? title, FigureStyle style, string? key = null)
    {
        return new LinearAxis
        {
            Position = position,
            Title = title,
            Key = key,
            MajorGridlineStyle = LineStyle.None,
            MinorGridlineStyle = LineStyle.None,
            TickStyle = TickStyle.Outside,
            MinorTickSize = 0,
            IsZoomEnabled = false,
            IsPanEnabled = false,
            AxislineStyle = LineStyle.None,
            MaximumPadding = 0.04,
            MinimumPadding = 0.04,
            StringFormat = null,
            Font = style.FontFamily,
        };
    }

    /// <summary>An axis whose integer positions 0..n-1 carry the given labels (at most ~maxLabels shown).</summary>
    internal static LinearAxis IndexAxis(AxisPosition position, string[] labels, string? title, FigureStyle style, int maxLabels = 40, string? key = null)
    {
        int n = labels.Length;
        int step = Math.Max(1, (int)Math.Ceiling(n / (double)maxLabels));
        var axis = ValueAxis(position, title, style, key);
        axis.Minimum = -0.5;
        axis.Maximum = n - 0.5;
        axis.MinimumPadding = 0;
        axis.MaximumPadding = 0;
        axis.MajorStep = step;
        axis.MinorStep = step;
        axis.LabelFormatter = v =>
        {
            double r = Math.Round(v);
            if (Math.Abs(v - r) > 1e-6 || r < 0 || r >= n) return string.Empty;
            return labels[(int)r];
        };
        return axis;
    }

    internal static Legend ClassLegend(FigureStyle style, LegendPosition position = LegendPosition.RightTop)
    {
        return new Legend
        {
            LegendPlacement = LegendPlacement.Outside,
            LegendPosition = position,
            LegendOrientation = position is LegendPosition.BottomCenter or LegendPosition.TopCenter ? LegendOrientation.Horizontal : LegendOrientation.Vertical,
            LegendBorderThickness = 0,
            LegendBackground = OxyColors.Undefined,
            LegendFontSize = style.FontUnits,
            LegendFont = style.FontFamily,
        };
    }

    /// <summary>Adds one empty, legend-only scatter series per class so legend markers are readable whatever the data marker size.</summary>
    internal static void AddClassLegendEntries(PlotModel model, string[] classNames, FigureStyle style)
    {
        for (int k = 0; k < classNames.Length; k++)
        {
            model.Series.Add(new ScatterSeries
            {
                Title = classNames[k],
                MarkerType = Palettes.ClassMarker(k),
                MarkerFill = Palettes.ClassColor(k),
                MarkerStroke = OxyColors.Undefined,
                MarkerStrokeThickness = 0,
                MarkerSize = style.FontUnits * 0.3,
            });
        }
    }

    /// <summary>Parses "#RRGGBB" / "#AARRGGBB" colours; null or too few colours fall back to the categorical palette.</summary>
    internal static OxyColor[] ParseColors(string[]? colors, int count, string figure)
    {
        var result = new OxyColor[count];
        for (int i = 0; i < count; i++)
        {
            if (colors != null && i < colors.Length && !string.IsNullOrWhiteSpace(colors[i]))
            {
                try { result[i] = OxyColor.Parse(colors[i]); }
                catch (Exception ex) when (ex is FormatException or ArgumentException or IndexOutOfRangeException)
                {
                    throw new ProbeException($"{figure}: colour '{colors[i]}' is not a colour; use '#RRGGBB'.", ex);
                }
            }
            else result[i] = Palettes.ClassColor(i);
        }
        return result;
    }

    /// <summary>Width of one line of text in OxyPlot units at the style's base font size (or <paramref name="fontUnits"/>), measured with the font figures are drawn with.</summary>
    internal static double TextWidth(string text, FigureStyle style, double? fontUnits = null, double weight = 400)
    {
        using var paint = new SkiaSharp.SKPaint { Typeface = EmbeddedFonts.Get(style.FontFamily, weight), TextSize = (float)(fontUnits ?? style.FontUnits) };
        return text.Split('\n').Max(line => (double)paint.MeasureText(line));
    }

    /// <summary>Height of one line of text (ascent + descent + leading) in OxyPlot units at the style's base font size.</summary>
    internal static double TextHeight(FigureStyle style, double? fontUnits = null)
    {
        using var paint = new SkiaSharp.SKPaint { Typeface = EmbeddedFonts.Get(style.FontFamily, 400), TextSize = (float)(fontUnits ?? style.FontUnits) };
        return paint.GetFontMetrics(out _);
    }

    /// <summary>
    /// <paramref name="v"/> in <paramref name="format"/> (invariant culture); a value that rounds to zero prints without
    /// a sign (-0.001 in "0.00" is "0.00": "-0.00" reads as a negative value).
    /// </summary>
    internal static string Fmt(double v, string format)
    {
        string s = v.ToString(format, CultureInfo.InvariantCulture);
        return s.Length > 1 && s[0] == '-' && s.AsSpan(1).IndexOfAnyExcept("0.") < 0 ? s[1..] : s;
    }
}
