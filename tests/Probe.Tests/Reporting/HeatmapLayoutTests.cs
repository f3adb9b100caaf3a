using System.Globalization;
using OxyPlot.Axes;
using Probe.Reporting;
using Probe.Reporting.Sections;
using Probe.Similarity;
using Xunit;

namespace Probe.Tests.Reporting;

/// <summary>
/// Similarity heatmaps as a paper takes them (probe cka / similarity / compare, the report's CKA figure): square cells,
/// never wider than a page's text, and tick labels that never overlap, however many layers and however narrow.
/// </summary>
public class HeatmapLayoutTests
{
    /// <summary>The layer names of a ResNet-18-like model, cut to <paramref name="count"/>: "conv1", ..., "layer3.1.conv2", ..., "fc".</summary>
    internal static string[] ResNetLayers(int count)
    {
        var all = new List<string> { "conv1", "bn1", "relu", "maxpool" };
        for (int stage = 1; stage <= 4; stage++)
            for (int block = 0; block < 3; block++)
                foreach (var part in new[] { "conv1", "bn1", "relu1", "conv2", "bn2", "relu2" })
                    all.Add(string.Create(CultureInfo.InvariantCulture, $"layer{stage}.{block}.{part}"));
        all.AddRange(["avgpool", "fc"]);
        return Enumerable.Range(0, count).Select(i => i == count - 1 ? "fc" : all[i * (all.Count - 1) / count]).ToArray();
    }

    internal static SimilarityTable Table(int layers, double min = 0, double max = 1)
    {
        var names = ResNetLayers(layers);
        var values = ReportingTestData.SimilarityMatrix(layers);
        if (min < 0) values = values.Select((r, i) => r.Select((v, j) => (i + j) % 3 == 0 ? -v / 2 : v).ToArray()).ToArray();
        return new SimilarityTable(min < 0 ? "RSA (Spearman of correlation-distance RDMs)" : "linear CKA", names, names, values, min, max);
    }

    /// <summary>The heatmap probe similarity writes, with its title and axis titles, at the width asked for (null: its own).</summary>
    static (OxyPlot.PlotModel Model, FigureStyle Style) Draw(SimilarityTable table, double? widthIn)
    {
        var style = SimilarityFigures.StyleFor(table, $"{table.Measure}, 500 samples", "layer", "layer", new FigureSettings(WidthInches: widthIn));
        return (SimilarityFigures.Heatmap(table, $"{table.Measure}, 500 samples", "layer", "layer", style), style);
    }

    [Theory]
    [InlineData(15, 3.5)]
    [InlineData(60, 3.5)]
    [InlineData(15, null)]
    [InlineData(60, null)]
    [InlineData(4, 3.5)]
    public void Tick_labels_never_overlap_nor_leave_the_figure(int layers, double? widthIn)
    {
        // 60 layers at one column's width (probe cka --width-in 3.5) drew 60 labels on 2 in: every one over its
        // neighbours. Now labels are thinned to every k-th (k = 1, 2, 5, 10, ...) and turned upright when they must be.
        var table = Table(layers);
        var (model, style) = Draw(table, widthIn);
        var (w, h, texts) = SvgText.Read(FigureExporter.Export(model, FigureFormat.Svg, style));

        Assert.Empty(SvgText.Outside(w, h, texts));
        var clashes = SvgText.Clashes(texts);
        Assert.True(clashes.Count == 0, "overlapping text: " + string.Join("; ", clashes.Take(5)));
        // Each axis labels layers 0, k, 2k, ... (every one when they fit); thinned, every layer keeps a tick to count by.
        var names = table.RowLayers;
        var plot = model.PlotArea;
        foreach (var axis in model.Axes.Take(2).Cast<LinearAxis>())
        {
            int k = (int)axis.MajorStep;
            var shown = texts.Where(t => names.Contains(t.Text) && (axis.Position == AxisPosition.Left ? t.Right <= plot.Left : (t.Top + t.Bottom) / 2 >= plot.Bottom))
                .Select(t => Array.IndexOf(names, t.Text)).Order().ToArray();
            Assert.All(shown, i => Assert.Equal(0, i % k));
            Assert.Equal((layers + k - 1) / k, shown.Length);
            Assert.True(shown.Length >= Math.Min(layers, 4), $"{axis.Position}: only {shown.Length} of {layers} layers labelled");
            if (k > 1) Assert.True(axis.MinorStep == 1 && axis.MinorTickSize > 0 && axis.TickStyle == TickStyle.Outside, $"{axis.Position}: thinned without a tick per layer");
        }
    }

    [Theory]
    [InlineData(2, null)]
    [InlineData(15, null)]
    [InlineData(60, null)]
    [InlineData(15, 3.5)]
    [InlineData(60, 3.5)]
    [InlineData(60, 7.0)]
    public void Cells_are_square_and_the_default_width_is_at_most_the_page_text_width(int layers, double? widthIn)
    {
        // The default grew 0.42 in a layer: 15 layers made a 9 in figure, 60 layers a 12 in one, wider than any page.
        var (model, style) = Draw(Table(layers), widthIn);
        if (widthIn is double forced) Assert.Equal(forced, style.WidthInches);
        else Assert.InRange(style.WidthInches, FigureStyle.Column.WidthInches, FigureStyle.Page.WidthInches);
        Assert.InRange(style.HeightInches, 1, FigureStyle.PageTextHeightInches);
        FigureExporter.LayOut(model, style);
        double cellW = model.PlotArea.Width / layers, cellH = model.PlotArea.Height / layers;
        Assert.True(Math.Abs(cellW - cellH) <= 1e-6 * cellW, $"cells {cellW:0.###} x {cellH:0.###} units");
        // The figure's height is what square cells need: no more than a line of empty room on top of its text.
        var (_, h, texts) = SvgText.Read(FigureExporter.Export(model, FigureFormat.Svg, style));
        double inkTop = texts.Min(t => t.Top), inkBottom = texts.Max(t => t.Bottom);
        Assert.True(h - (inkBottom - inkTop) < 3 * style.FontUnits, $"{h - (inkBottom - inkTop):0.#} units of {h:0.#} hold no text");
    }

    [Fact]
    public void Cells_stay_square_whatever_style_a_heatmap_is_given()
    {
        // A library user's own size (one column, 3.5 x 2.6 in) for a tall cross table and a wide one, the rows named
        // briefly and the columns at length (the first column's turned label reaches out to the left).
        var names = ResNetLayers(20).Select(n => "model_b." + n).ToArray();
        var brief = Enumerable.Range(0, 20).Select(i => "r" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
        foreach (var (rows, cols) in new[] { (20, 5), (5, 20), (20, 20), (3, 8) })
        {
            var values = Enumerable.Range(0, rows).Select(i => Enumerable.Range(0, cols).Select(j => (i + j) / 40.0).ToArray()).ToArray();
            var model = Figures.Heatmap(values, brief[..rows], names[..cols], style: FigureStyle.Column);
            FigureExporter.LayOut(model, FigureStyle.Column);
            Assert.Equal(model.PlotArea.Width / cols, model.PlotArea.Height / rows, 6);
            var (w, h, texts) = SvgText.Read(FigureExporter.Export(model, FigureFormat.Svg, FigureStyle.Column));
            Assert.Empty(SvgText.Outside(w, h, texts));
            Assert.Empty(SvgText.Clashes(texts));
        }
    }

    [Fact]
    public void The_report_draws_its_cka_heatmap_within_the_page()
    {
        // The report sizes its CKA figure with the same rule (CkaFigures.StyleFor), under the report's figure settings.
        var names = ResNetLayers(40);
        var table = new CkaMatrix(names, names, ReportingTestData.SimilarityMatrix(40), "linear CKA");
        var style = CkaFigures.StyleFor(table, null, "layer", "layer");
        Assert.InRange(style.WidthInches, FigureStyle.Column.WidthInches, FigureStyle.Page.WidthInches);
        Assert.Equal(3.5, CkaFigures.StyleFor(table, null, "layer", "layer", new FigureSettings(WidthInches: 3.5)).WidthInches);
    }

    [Theory]
    [InlineData(-0.001, "0.00", "0.00")]
    [InlineData(-0.004, "0.00", "0.00")]
    [InlineData(-0.005, "0.00", "-0.01")]
    [InlineData(-0.01, "0.00", "-0.01")]
    [InlineData(-0.0004, "0.000", "0.000")]
    [InlineData(-0.2, "0", "0")]
    [InlineData(0.5, "0.00", "0.50")]
    [InlineData(-1.5, "0.0", "-1.5")]
    public void CellValuesThatRoundToZeroPrintWithoutASign(double v, string format, string expected) =>
        Assert.Equal(expected, Figures.Fmt(v, format));

    [Theory]
    [InlineData(3.5)]
    [InlineData(7.0)]
    public void ALongTitleIsBrokenIntoLinesThatFitTheFigure(double widthIn)
    {
        // probe similarity --measure rsa at one column's width: its title, the measure's full description, ran past both
        // edges and OxyPlot clipped it.
        const string title = "RSA (Spearman of correlation-distance RDMs), 150 samples, layers of resnet18 against themselves";
        var table = Table(6);
        var style = FigureStyle.Column with { WidthInches = widthIn, HeightInches = widthIn };
        var model = Figures.Heatmap(table.Values, table.RowLayers, table.ColLayers, title, style: style);
        var (w, h, texts) = SvgText.Read(FigureExporter.Export(model, FigureFormat.Svg, style));
        Assert.Empty(SvgText.Outside(w, h, texts));
        Assert.Empty(SvgText.Clashes(texts));
        // Every word of the title is drawn, in order.
        double titleSize = texts.Max(t => t.FontSize);
        var drawn = string.Join(" ", texts.Where(t => t.FontSize == titleSize).OrderBy(t => t.Top).Select(t => t.Text));
        Assert.Equal(title, drawn);
    }
}
