using Probe.Projection;
using Probe.Reporting;
using Probe.Reporting.Sections;
using Xunit;

namespace Probe.Tests.Reporting;

public class EvolutionFigureTests
{
    static EvolutionResult Small(int n = 30)
    {
        var rng = new Random(0);
        var acts = Enumerable.Range(0, 2).Select(_ =>
        {
            var m = new Matrix(n, 4);
            for (int i = 0; i < m.Data.Length; i++) m.Data[i] = (float)rng.NextDouble();
            return new Dictionary<string, Matrix> { ["a"] = m, ["b"] = m };
        }).ToArray();
        return new EvolutionStudy(MaxSamples: null, QualitySamples: n > 1000 ? 0 : SampledTrustworthiness.DefaultSamples)
            .Project([0, 5], ["a", "b"], i => acts[i], Enumerable.Range(0, n).Select(i => i % 3).ToArray());
    }

    [Fact]
    public void OnePanelAsAScatterSizesItsMarkersAsProbeProjectDoes()
    {
        // One panel of a study drawn alone had probe project's old fixed markers (1.2 pt above 1,000 points): 20,000
        // points inked more than the figure. It now shares Figures.Scatter's automatic size: at most the plot's area.
        var fig = EvolutionFigures.Scatter(Small(20_000), 5, "a");
        FigureExporter.LayOut(fig.Model, fig.Style);
        var data = fig.Model.Series.OfType<OxyPlot.Series.ScatterSeries>().Where(s => !s.RenderInLegend).ToList();
        double ink = data.Sum(s => s.Points.Count * Math.PI * s.MarkerSize * s.MarkerSize);
        Assert.Equal(20_000, data.Sum(s => s.Points.Count));
        Assert.True(ink <= fig.Model.PlotArea.Width * fig.Model.PlotArea.Height * 1.0001, $"markers cover {ink / (fig.Model.PlotArea.Width * fig.Model.PlotArea.Height):0.00} plots");
    }

    [Fact]
    public void GridExportsPngSvgAndPdfAtTheRequestedWidthAndDpi()
    {
        string dir = Path.Combine(Path.GetTempPath(), "probe-evofig-" + Guid.NewGuid().ToString("N"));
        try
        {
            var fig = EvolutionFigures.Grid(Small(), basis: FigureStyle.Column with { Dpi = 150 });
            Assert.Equal(3.5, fig.Style.WidthInches);
            foreach (var ext in new[] { ".png", ".svg", ".pdf" }) fig.Save(Path.Combine(dir, "g" + ext));
            var png = File.ReadAllBytes(Path.Combine(dir, "g.png"));
            int w = (png[16] << 24) | (png[17] << 16) | (png[18] << 8) | png[19];
            Assert.Equal((int)Math.Round(3.5 * 150), w);
            string svg = File.ReadAllText(Path.Combine(dir, "g.svg"));
            Assert.Contains("epoch 5", svg);
            Assert.Contains("b (4)", svg);
            Assert.StartsWith("%PDF", System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(Path.Combine(dir, "g.pdf")), 0, 4));
        }
        finally { try { Directory.Delete(dir, true); } catch (IOException) { } }
    }

    [Fact]
    public void PlanesRejectRegionClassesOutsideTheLegend()
    {
        var p = new PlanePanel("p", [0, 1], [0, 1], Regions: [[0, 5]], RegionBox: new PlaneBox(0, 1, 0, 1));
        var e = Assert.Throws<ProbeException>(() => EvolutionFigures.Planes([p], [0, 1], ["a", "b"]));
        Assert.Contains("region class 5", e.Message);
        var scatter = EvolutionFigures.Scatter(Small(), 5, "a");
        Assert.Contains("PC1 (", scatter.Model.Axes[0].Title);
    }
}
