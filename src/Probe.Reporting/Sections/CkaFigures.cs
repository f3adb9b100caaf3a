using OxyPlot;
using Probe.Similarity;

namespace Probe.Reporting.Sections;

/// <summary>CKA figures: a layer x layer (or model A x model B) heatmap with layer names, values and a fixed [0, 1] colour bar.</summary>
public static class CkaFigures
{
    /// <summary>
    /// The heatmap of a CKA table (rows top to bottom, columns left to right). The figure is square-ish and grows with
    /// the number of layers so cell values stay legible; values are printed where they fit. Values outside [0, 1]
    /// (debiased CKA can go slightly negative) are coloured at the end of the bar but printed as they are.
    /// </summary>
    public static PlotModel Heatmap(CkaMatrix table, string? title = null, string? rowTitle = null, string? colTitle = null, FigureStyle? style = null)
    {
        ArgumentNullException.ThrowIfNull(table);
        return Figures.Heatmap(table.Values, table.RowLayers, table.ColLayers, title ?? table.Measure,
            min: 0, max: 1, showValues: true, valueFormat: "0.00", colorBarTitle: "CKA",
            xTitle: colTitle, yTitle: rowTitle, style: style ?? StyleFor(table));
    }

    /// <summary>A figure style sized for the table: about 0.42 in per cell, at least one journal column wide.</summary>
    public static FigureStyle StyleFor(CkaMatrix table)
    {
        ArgumentNullException.ThrowIfNull(table);
        int rows = table.RowLayers.Length, cols = table.ColLayers.Length;
        int labelChars = Math.Max(table.RowLayers.Max(s => s.Length), table.ColLayers.Max(s => s.Length));
        double margin = 0.9 + 0.06 * labelChars;
        double width = Math.Clamp(0.42 * cols + margin + 0.8, 3.5, 12);
        double height = Math.Clamp(0.42 * rows + margin + 0.35, 2.8, 12);
        return FigureStyle.Column with { WidthInches = width, HeightInches = height };
    }

    /// <summary>Writes <paramref name="basePath"/>.png and .svg (sized by <see cref="StyleFor"/>, then <paramref name="figures"/>); returns the written paths.</summary>
    public static IReadOnlyList<string> Save(CkaMatrix table, string basePath, string? title = null, string? rowTitle = null, string? colTitle = null, FigureSettings? figures = null)
    {
        var style = (figures ?? FigureSettings.Default).Apply(StyleFor(table));
        return FigureExporter.SaveAll(Heatmap(table, title, rowTitle, colTitle, style), basePath, style, ".png", ".svg");
    }
}
