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
