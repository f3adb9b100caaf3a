using Probe.Analysis;
using Probe.Examples.CloudsAndCircles;
using Probe.Examples.DigitsEvolution;
using Probe.Examples.XorHiddenSpace;
using Xunit;

namespace Probe.Tests.Examples;

/// <summary>The examples under examples/ run with small settings; each checks the property its figure is meant to show.</summary>
public sealed class ExampleTests : IDisposable
{
    readonly string dir = Path.Combine(Path.GetTempPath(), "probe-examples-" + Guid.NewGuid().ToString("N"));

    public void Dispose() { try { Directory.Delete(dir, true); } catch (IOException) { } }

    static void AssertFigures(string png)
    {
        string stem = Path.ChangeExtension(png, null);
        foreach (var ext in new[] { ".png", ".svg", ".pdf" })
            Assert.True(new FileInfo(stem + ext).Length > 1000, stem + ext);
    }

    [Fact]
    public void XorIsSeparableInTheHiddenSpaceButNotInTheInput()
    {
        var r = XorHiddenSpaceExample.Run(new XorSettings(Samples: 200, Dpi: 100), dir, TextWriter.Null);
        AssertFigures(r.Figure);
        Assert.Equal(1.0, r.HiddenPerceptronAccuracy); // a perceptron reaches 100% only on separable data
        Assert.InRange(r.InputPerceptronAccuracy, 0.0, 0.8); // XOR: no line does better than 3 of 4 clusters
    }

    [Fact]
    public void CirclesBecomeLinearlySeparableInTheTwoUnitLayerOverTraining()
    {
        var r = CloudsAndCirclesExample.Run(new CloudsSettings(Samples: 200, Epochs: 20, MaxRows: 3, Dpi: 100), dir, TextWriter.Null);
        Assert.Equal(2, r.DataSets.Length);
        foreach (var d in r.DataSets) { AssertFigures(d.EvolutionFigure); AssertFigures(d.GridWarpFigure); }
        var circles = r.DataSets.Single(d => d.Name == "circles");
        Assert.Equal(0, circles.Epochs[0]);
        Assert.InRange(circles.TwoUnitProbeAccuracy[0], 0.0, 0.8);   // at initialisation a line cannot split the rings
        Assert.InRange(circles.TwoUnitProbeAccuracy[^1], 0.95, 1.0); // after training the 2-unit layer has unfolded them
        var clouds = r.DataSets.Single(d => d.Name == "clouds");
        Assert.InRange(clouds.TwoUnitProbeAccuracy[^1], 0.9, 1.0);
    }

    [Fact]
    public void DigitsClassesSeparateInTheLastHiddenLayerOverTraining()
    {
        var r = DigitsEvolutionExample.Run(new DigitsSettings(Epochs: 2, PcaSamples: 200, TsneSamples: 120, TsneIterations: 250, MaxRows: 3, Dpi: 100), dir, TextWriter.Null);
        AssertFigures(r.InputVersusHiddenFigure);
        AssertFigures(r.PcaGridFigure);
        AssertFigures(r.TsneGridFigure);
        Assert.Equal(["relu1", "relu2", "relu3", "fc4"], r.Pca.Layers);
        var sep = new SeparabilityAnalyzer();
        double before = sep.Run(r.Pca.Panel(0, "relu3").ToMatrix(), r.Pca.Labels).Ratio;
        double after = sep.Run(r.Pca.Panel(2, "relu3").ToMatrix(), r.Pca.Labels).Ratio;
        Assert.True(after > 1.5 * before, $"class separation in relu3's PCA: epoch 0 {before}, epoch 2 {after}");
        Assert.All(r.Tsne.Panels.SelectMany(p => p), p => Assert.InRange(p.Trustworthiness!.Value, 0.7, 1.0));
    }
}
