using OxyPlot.Axes;
using Probe.Reporting;
using Xunit;

namespace Probe.Tests.Reporting;

/// <summary>
/// Line charts over layers (the report's probe accuracy and separability by depth): tick labels that never overlap nor
/// leave the figure, however many layers and however narrow the figure.
/// </summary>
public class LineChartLayoutTests
{
    /// <summary>The ReLU calls of torchvision's resnet18 and its fc, as probe report names them.</summary>
    static string[] ResNet18Relus()
    {
        var names = new List<string> { "relu" };
        for (int stage = 1; stage <= 4; stage++)
            for (int block = 0; block < 2; block++)
                for (int call = 0; call < 2; call++)
                    names.Add($"layer{stage}.{block}.relu#{call}");
        names.Add("fc");
        return [.. names];
    }

    /// <summary>torchvision's mobilenet_v2 ReLU6 sites and its classifier (36 names up to 20 characters).</summary>
    static string[] MobileNetV2Relus()
    {
        var names = new List<string> { "features.0.2", "features.1.conv.0.2" };
        for (int block = 2; block <= 17; block++) { names.Add($"features.{block}.conv.0.2"); names.Add($"features.{block}.conv.1.2"); }
        names.AddRange(["features.18.2", "classifier.1"]);
        return [.. names];
    }

    public static TheoryData<string, double> Cases() => new()
    {
        { "resnet18", 3.5 }, { "resnet18", 7 }, { "mobilenet_v2", 3.5 }, { "mobilenet_v2", 7 }, { "few", 3.5 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Layer_labels_never_overlap_nor_leave_the_figure(string model, double widthIn)
    {
        // probe report drew resnet18's 18 layer names at 45 degrees on one column: each ran into its neighbours and the
        // first was cut off at the figure's left edge.
        var names = model switch { "resnet18" => ResNet18Relus(), "mobilenet_v2" => MobileNetV2Relus(), _ => ["conv1", "relu1", "conv2", "fc"] };
        var values = names.Select((_, i) => 0.5 + 0.1 * Math.Sin(i)).ToArray();
        var style = FigureStyle.Column with { WidthInches = widthIn };
        var chart = Figures.LineChart(names, [new NamedSeries("model", values)], null, "layer", "separability (between / within)", style: style, showLegend: false);
        var (w, h, texts) = SvgText.Read(FigureExporter.Export(chart, FigureFormat.Svg, style));

        Assert.Empty(SvgText.Outside(w, h, texts));
        var clashes = SvgText.Clashes(texts);
        Assert.True(clashes.Count == 0, "overlapping text: " + string.Join("; ", clashes.Take(5)));
        var x = (LinearAxis)chart.Axes.Single(a => a.Position == AxisPosition.Bottom);
        int k = (int)x.MajorStep;
        var shown = texts.Where(t => names.Contains(t.Text)).Select(t => Array.IndexOf(names, t.Text)).Order().ToArray();
        Assert.Equal(Enumerable.Range(0, (names.Length + k - 1) / k).Select(i => i * k), shown);
        Assert.True(shown.Length >= Math.Min(names.Length, 4), $"only {shown.Length} of {names.Length} layers labelled");
        if (k > 1) Assert.True(x.MinorStep == 1 && x.MinorTickSize > 0, "thinned without a tick per layer");
        Assert.DoesNotContain(texts, t => t.Text == "model"); // no legend when asked for none
    }
}

/// <summary>The report's dead fraction over training: one line per layer, a legend entry each.</summary>
public class DeadFractionLayoutTests
{
    static Probe.Analysis.DeadUnitTimelineResult Timeline(string[] names)
    {
        int[] epochs = [0, 1, 2, 3];
        var layers = names.Select((n, i) => new Probe.Analysis.DeadLayerTimeline(n, "ReLU", 8, epochs.Select(_ => new float[8]).ToArray(),
            epochs.Select(e => 0.3 * i / names.Length / (1 + e)).ToArray(), epochs.Select(_ => 0.0).ToArray(), [])).ToArray();
        return new Probe.Analysis.DeadUnitTimelineResult(epochs, layers, new Probe.Analysis.DeadUnitStudyResult(100, 0.01, "a > 0", []));
    }

    [Fact]
    public void A_resnet18s_legend_leaves_the_plot_the_width_it_has_with_one_layer()
    {
        // The report drew resnet18's 17 ReLU calls at one column: the legend took two thirds of the figure and the plot
        // was a sliver 0.9 in wide.
        var names = new List<string> { "relu" };
        for (int stage = 1; stage <= 4; stage++)
            for (int block = 0; block < 2; block++)
                for (int call = 0; call < 2; call++)
                    names.Add($"layer{stage}.{block}.relu#{call}");
        var one = Probe.Reporting.Sections.DeadUnitFigures.DeadFractionOverTraining(Timeline(["relu"]), style: FigureStyle.Column);
        FigureExporter.LayOut(one, FigureStyle.Column);

        var timeline = Timeline([.. names]);
        var style = Probe.Reporting.Sections.DeadUnitFigures.StyleFor(timeline, FigureStyle.Column);
        var chart = Probe.Reporting.Sections.DeadUnitFigures.DeadFractionOverTraining(timeline, style: style);
        var (w, h, texts) = SvgText.Read(FigureExporter.Export(chart, FigureFormat.Svg, style));
        Assert.True(chart.PlotArea.Width >= 0.9 * one.PlotArea.Width, $"plot {chart.PlotArea.Width:F0} units wide against {one.PlotArea.Width:F0} with one layer");
        Assert.True(style.WidthInches <= 12);
        Assert.Empty(SvgText.Outside(w, h, texts));
        Assert.Empty(SvgText.Clashes(texts));
        Assert.All(names, n => Assert.Contains(texts, t => t.Text == n));
    }
}
