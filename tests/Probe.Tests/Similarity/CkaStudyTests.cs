using Probe.Capture;
using Probe.Data;
using Probe.Models;
using Probe.Similarity;
using Xunit;

namespace Probe.Tests.Similarity;

/// <summary>CkaStudy: its tables equal Cka/MinibatchCka applied to the captured matrices; the input pseudo-layer is the data.</summary>
public class CkaStudyTests
{
    private static readonly Dataset Data = Datasets.Digits().Subset(Enumerable.Range(0, 200).ToArray());

    [Fact]
    public void WithinEqualsAllPairsOnTheCapturedLayersAndTheInput()
    {
        using var model = ModelSpec.Parse("mlp:64-32-16-10").Build(1);
        var result = new CkaStudy(Layers: "input,fc1,relu1,fc3").Within(model, Data);
        Assert.Equal(CkaStudyMethod.Full, result.Method);
        Assert.Equal(["input", "fc1", "relu1", "fc3"], result.Table.RowLayers);
        var acts = new ActivationCapture(new LayerSelector("fc1,relu1,fc3")).ToMemory(model, Data);
        var expected = new Cka().AllPairs(["input", "fc1", "relu1", "fc3"], [Data.Features, acts["fc1"], acts["relu1"], acts["fc3"]]);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) Assert.Equal(expected.Values[i][j], result.Table.Values[i][j], 12);
    }

    [Fact]
    public void StreamingCrossEqualsMinibatchCkaOnTheCapturedLayers()
    {
        using var a = ModelSpec.Parse("mlp:64-32-16-10").Build(1);
        using var b = ModelSpec.Parse("mlp:64-32-16-10").Build(2);
        var study = new CkaStudy(Layers: "input,relu1,relu2", Method: CkaStudyMethod.Minibatch, BatchSize: 50);
        var result = study.Cross(a, b, Data, "seed 1", "seed 2");
        Assert.Equal(CkaStudyMethod.Minibatch, result.Method);
        var ca = new ActivationCapture(new LayerSelector("relu1,relu2")).ToMemory(a, Data);
        var cb = new ActivationCapture(new LayerSelector("relu1,relu2")).ToMemory(b, Data);
        Assert.Equal(MinibatchCka.Compute(ca["relu1"], cb["relu2"], 50), result.Table["relu1", "relu2"], 9);
        Assert.Equal(MinibatchCka.Compute(Data.Features, cb["relu1"], 50), result.Table["input", "relu1"], 9);
        Assert.Equal(1.0, result.Table["input", "input"], 9);
    }

    [Fact]
    public void AutoChoosesMinibatchWhenTheLayersDoNotFit()
    {
        var study = new CkaStudy();
        Assert.Equal(CkaStudyMethod.Full, study.Choose(10_000, 2_000, 8));
        Assert.Equal(CkaStudyMethod.Minibatch, study.Choose(70_000, 4_000, 8)); // 1.1 GB of float32 activations
        Assert.Equal(CkaStudyMethod.Minibatch, new CkaStudy(new Cka(CkaKernel.Rbf)).Choose(10_000, 100, 8)); // 8 n x n kernels
        using var model = ModelSpec.Parse("mlp:64-10").Build(0);
        Assert.Throws<ProbeException>(() => new CkaStudy(MaxSamples: 3).Within(model, Data));
    }
}
