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

    [Fact]
    public void Signed_measures_are_drawn_diverging_about_zero_and_the_others_in_viridis()
    {
        // RSA's values are correlations in [-1, 1]: viridis drew 0 mid-teal, so a negative cell could not be told from a
        // weak positive one. Now the palette diverges from near-white at 0 (blue below, red above) over limits symmetric
        // about 0; CKA and the other [0, 1] measures keep viridis.
        var x = Gaussian(40, 6, 1);
        var layers = new List<(string, Matrix)> { ("x", x), ("relu", Map(x, v => MathF.Max(0, v))), ("noise", Gaussian(40, 5, 2)) };
        var rsa = SimilarityFigures.Heatmap(new RsaMeasure().AllPairs(layers)).Axes.OfType<LinearColorAxis>().Single();
        Assert.Equal(-rsa.Maximum, rsa.Minimum);
        Assert.Equal(Probe.Reporting.Palettes.Diverging().Colors, rsa.Palette.Colors);
        var zero = rsa.GetColor(0.0);
        Assert.True(Math.Max(zero.R, Math.Max(zero.G, zero.B)) - Math.Min(zero.R, Math.Min(zero.G, zero.B)) <= 8 && zero.G > 230, $"0 is drawn {zero}, not near-white");
        foreach (double v in new[] { 0.25, 0.5, 1.0 })
        {
            OxyPlot.OxyColor below = rsa.GetColor(-v), above = rsa.GetColor(v);
            Assert.True(below.B > below.R && above.R > above.B, $"±{v}: {below} / {above} do not show the sign");
            // Equally strong: the same distance from white, within the palette's own asymmetry.
            static double Ink(OxyPlot.OxyColor c) => 3 * 255 - c.R - c.G - c.B;
            Assert.InRange(Ink(below) / Ink(above), 0.7, 1.4);
        }

        var svcca = SimilarityFigures.Heatmap(new SvccaMeasure().AllPairs(layers)).Axes.OfType<LinearColorAxis>().Single();
        Assert.Equal((0.0, 1.0), (svcca.Minimum, svcca.Maximum));
        Assert.Equal(Probe.Reporting.Palettes.Viridis().Colors, svcca.Palette.Colors);
        // Any range that reaches below 0 is made symmetric: [-0.2, 1] is drawn over [-1, 1].
        var lopsided = Probe.Reporting.Figures.Heatmap([[-0.2, 1], [1, 0.3]], ["a", "b"], ["a", "b"], min: -0.2, max: 1)
            .Axes.OfType<LinearColorAxis>().Single();
        Assert.Equal((-1.0, 1.0), (lopsided.Minimum, lopsided.Maximum));
    }
}
