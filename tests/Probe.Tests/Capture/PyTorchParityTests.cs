using Probe.Capture;
using Probe.Data;
using Probe.Models;
using Xunit;

namespace Probe.Tests.Capture;

/// <summary>
/// Proof that capture is exact: the PyTorch state dict Fixtures/digits_mlp.safetensors loaded into
/// mlp:64-128-64-32-10:relu and run on Fixtures/digits_input.npy gives, at every layer, the activations PyTorch 1.13
/// recorded with its own forward hooks (Fixtures/digits_&lt;layer&gt;.npy, see Fixtures/SOURCE.md).
/// </summary>
public class PyTorchParityTests
{
    static string Fixture(string name) => ReferenceFixtures.Shared(name);

    [Theory]
    [InlineData(256)]
    [InlineData(100)]
    public void EveryLayerMatchesPyTorchHooks(int batchSize)
    {
        var spec = ModelSpec.Parse("mlp:64-128-64-32-10:relu");
        using var model = spec.Build(seed: 0);
        Weights.Load(model, Fixture("digits_mlp.safetensors"));
        var input = Npy.ReadMatrix(Fixture("digits_input.npy"));
        var data = new Dataset("digits", input, Npy.ReadInt32(Fixture("digits_labels.npy")), new[] { 64 });

        var acts = new ActivationCapture(BatchSize: batchSize).ToMemory(model, data);

        Assert.Equal(new[] { "fc1", "relu1", "fc2", "relu2", "fc3", "relu3", "fc4" }, acts.LayerNames);
        foreach (var layer in acts.LayerNames)
        {
            var expected = Npy.ReadMatrix(Fixture($"digits_{layer}.npy"));
            var got = acts[layer];
            Assert.Equal((expected.Rows, expected.Cols), (got.Rows, got.Cols));
            double worst = 0;
            for (int i = 0; i < expected.Data.Length; i++)
                worst = Math.Max(worst, Math.Abs(expected.Data[i] - got.Data[i]) / Math.Max(1.0, Math.Abs(expected.Data[i])));
            Assert.True(worst <= 1e-5, $"{layer}: largest difference {worst:G3} (relative to max(1, |value|)) exceeds 1e-5");
        }
    }
}
