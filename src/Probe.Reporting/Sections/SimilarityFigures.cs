using OxyPlot;
using Probe.Similarity;

namespace Probe.Reporting.Sections;

/// <summary>
/// Heatmaps of any similarity measure's layer table (<see cref="SimilarityMeasure.AllPairs"/>,
/// <see cref="SimilarityMeasure.Cross"/>): layer names on both axes, values printed where they fit, and the colour bar
/// fixed to the measure's range (RSA: [-1, 1] in a diverging palette centred at 0; the others [0, 1] in viridis).
/// </summary>
public static class SimilarityFigures
{
    /// <summary>The heatmap of a table (rows top to bottom, columns left to right), sized by <see cref="StyleFor"/> unless <paramref name="style"/> is given.</summary>
    public static PlotModel Heatmap(SimilarityTable table, string? title = null, string? rowTitle = null, string? colTitle = null, FigureStyle? style = null)
    {
        ArgumentNullException.ThrowIfNull(table);
        return Figures.Heatmap(table.Values, table.RowLayers, table.ColLayers, title ?? table.Measure,
            min: table.Min, max: table.Max, showValues: true, valueFormat: "0.00", colorBarTitle: table.Measure,
            xTitle: colTitle, yTitle: rowTitle, style: style ?? StyleFor(table, title, rowTitle, colTitle));
    }

    /// <summary>The style <see cref="Heatmap"/> draws the table at with these titles under <paramref name="figures"/>, as for CKA (see <see cref="Figures.HeatmapStyle"/>).</summary>
    public static FigureStyle StyleFor(SimilarityTable table, string? title = null, string? rowTitle = null, string? colTitle = null, FigureSettings? figures = null)
    {
        ArgumentNullException.ThrowIfNull(table);
        return Figures.HeatmapStyle(table.RowLayers, table.ColLayers, title ?? table.Measure, table.Min, table.Max, table.Measure, colTitle, rowTitle, figures);
    }

    /// <summary>Writes <paramref name="basePath"/>.png and .svg (sized by <see cref="StyleFor"/> under <paramref name="figures"/>); returns the written paths.</summary>
    public static IReadOnlyList<string> Save(SimilarityTable table, string basePath, string? title = null, string? rowTitle = null, string? colTitle = null, FigureSettings? figures = null)
    {
        var style = StyleFor(table, title, rowTitle, colTitle, figures);
        return FigureExporter.SaveAll(Heatmap(table, title, rowTitle, colTitle, style), basePath, style, ".png", ".svg");
    }
}
