using OxyPlot;
using Probe.Similarity;

namespace Probe.Reporting.Sections;

/// <summary>CKA figures: a layer x layer (or model A x model B) heatmap with layer names, values and a fixed [0, 1] colour bar.</summary>
public static class CkaFigures
{
    /// <summary>
    /// The heatmap of a CKA table (rows top to bottom, columns left to right), sized by <see cref="StyleFor"/> unless
    /// <paramref name="style"/> is given: square cells, about 0.42 in a layer up to a page's text width, values printed
    /// where they fit, tick labels thinned when they cannot all fit. Values outside [0, 1] (debiased CKA can go slightly
    /// negative) are coloured at the end of the bar but printed as they are.
    /// </summary>
    public static PlotModel Heatmap(CkaMatrix table, string? title = null, string? rowTitle = null, string? colTitle = null, FigureStyle? style = null)
    {
        ArgumentNullException.ThrowIfNull(table);
        return Figures.Heatmap(table.Values, table.RowLayers, table.ColLayers, title ?? table.Measure,
            min: 0, max: 1, showValues: true, valueFormat: "0.00", colorBarTitle: ColorBarTitle,
            xTitle: colTitle, yTitle: rowTitle, style: style ?? StyleFor(table, title, rowTitle, colTitle));
    }

    /// <summary>The style <see cref="Heatmap"/> draws the table at with these titles under <paramref name="figures"/> (see <see cref="Figures.HeatmapStyle"/>).</summary>
    public static FigureStyle StyleFor(CkaMatrix table, string? title = null, string? rowTitle = null, string? colTitle = null, FigureSettings? figures = null)
    {
        ArgumentNullException.ThrowIfNull(table);
        return Figures.HeatmapStyle(table.RowLayers, table.ColLayers, title ?? table.Measure, 0, 1, ColorBarTitle, colTitle, rowTitle, figures);
    }

    /// <summary>Writes <paramref name="basePath"/>.png and .svg (sized by <see cref="StyleFor"/> under <paramref name="figures"/>); returns the written paths.</summary>
    public static IReadOnlyList<string> Save(CkaMatrix table, string basePath, string? title = null, string? rowTitle = null, string? colTitle = null, FigureSettings? figures = null)
    {
        var style = StyleFor(table, title, rowTitle, colTitle, figures);
        return FigureExporter.SaveAll(Heatmap(table, title, rowTitle, colTitle, style), basePath, style, ".png", ".svg");
    }

    private const string ColorBarTitle = "CKA";
}
