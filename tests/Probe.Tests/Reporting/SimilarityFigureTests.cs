using OxyPlot.Axes;
using Probe.Reporting.Sections;
using Probe.Similarity;
using Xunit;
using static Probe.Tests.Similarity.SimilarityTestData;

namespace Probe.Tests.Reporting;

/// <summary>The generic similarity heatmap: the measure's own colour range, layer labels, PNG and SVG files.</summary>
public class SimilarityFigureTests
{
    [Fact]
    public void HeatmapUsesTheMeasuresRangeAndWritesBothFormats()
    {
        var x = Gaussian(40, 6, 1);
        var layers = new List<(string, Matrix)> { ("x", x), ("relu", Map(x, v => MathF.Max(0, v))), ("noise", Gaussian(40, 5, 2)) };
        var rsa = new RsaMeasure().AllPairs(layers);
        var axis = SimilarityFigures.Heatmap(rsa).Axes.OfType<LinearColorAxis>().Single();
        Assert.Equal((-1.0, 1.0), (axis.Minimum, axis.Maximum));
        var svcca = new SvccaMeasure().AllPairs(layers);
        Assert.Equal((0.0, 1.0), (SimilarityFigures.Heatmap(svcca).Axes.OfType<LinearColorAxis>().Single().Minimum, 1.0));
        string dir = Path.Combine(Path.GetTempPath(), $"probe-simfig-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var written = SimilarityFigures.Save(rsa, Path.Combine(dir, "rsa"), rowTitle: "layer", colTitle: "layer");
            Assert.Equal(2, written.Count);
            foreach (var f in written) Assert.True(new FileInfo(f).Length > 1000, f);
            Assert.Contains("relu", File.ReadAllText(Path.Combine(dir, "rsa.svg")));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
