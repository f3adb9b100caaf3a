using Probe.Capture;
using Probe.Data;
using Xunit;

namespace Probe.Tests.Capture;

public class NpySinkTests
{
    [Fact]
    public void StreamsEveryLayerToNpyFilesEqualToTheInMemoryCapture()
    {
        var model = CaptureTests.Mlp();
        var data = CaptureTests.Random(45, 6);
        string dir = Path.Combine(Path.GetTempPath(), "probe-npysink-" + Guid.NewGuid().ToString("N"));
        try
        {
            using (var sink = new NpySink(dir))
                new ActivationCapture(BatchSize: 8).Run(model, data, sink);
            var mem = new ActivationCapture(BatchSize: 8).ToMemory(model, data);
            foreach (var layer in mem.LayerNames)
            {
                var onDisk = Npy.ReadMatrix(Path.Combine(dir, layer + ".npy"));
                Assert.Equal(mem[layer].Rows, onDisk.Rows);
                Assert.Equal(mem[layer].Data, onDisk.Data);
            }
            Assert.Equal(data.Labels, Npy.ReadInt32(Path.Combine(dir, "labels.npy")));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void LayerNamesBecomeFileSafe() => Assert.Equal("features.3_x.npy", NpySink.FileName("features.3/x"));
}

public class NonFiniteCountTests
{
    [Theory]
    [InlineData(0, 1)]
    [InlineData(37, 2)]
    [InlineData(1000, 3)]
    public void CountsNaNAndInfinitiesAnywhereInTheBuffer(int length, int seed)
    {
        var rng = new Random(seed);
        var values = Enumerable.Range(0, length).Select(_ => (float)(rng.NextDouble() * 200 - 100)).ToArray();
        int expected = 0;
        for (int i = 0; i < length; i += 1 + rng.Next(50))
        {
            values[i] = (expected % 3) switch { 0 => float.NaN, 1 => float.PositiveInfinity, _ => float.NegativeInfinity };
            expected++;
        }
        Assert.Equal(expected, Probe.Capture.ActivationCapture.CountNonFinite(values));
        Assert.Equal(values.Count(v => !float.IsFinite(v)), expected);
    }
}

public class ConsumerTensorLifetimeTests
{
    sealed class KeepsATensor : Probe.Capture.IActivationConsumer
    {
        public TorchSharp.torch.Tensor? Kept;
        public void OnBatch(Probe.Capture.ActivationBatch batch)
        {
            Kept ??= TorchSharp.torch.zeros(3);
            Kept.add_(1);
        }
    }

    [Fact]
    public void TensorsAConsumerCreatesAreNotDisposedByTheCapturesBatchScope()
    {
        var keeper = new KeepsATensor();
        new Probe.Capture.ActivationCapture(BatchSize: 4).Run(CaptureTests.Mlp(), CaptureTests.Random(10, 6), keeper);
        Assert.False(keeper.Kept!.IsInvalid);
        Assert.Equal(3f, keeper.Kept[0].item<float>()); // three batches
    }
}

public class SamplerAgreementTests
{
    [Fact]
    public void CaptureAndDataUniformSamplingPickTheSameRows()
    {
        var data = new Probe.Data.Dataset("u", new Matrix(500, 1), null, new[] { 1 });
        var a = Probe.Capture.SampleChooser.Choose(500, 60, seed: 9);
        Assert.Equal(a, data.SampleIndices(60, seed: 9, stratified: false));
        Assert.Equal(60, a.Distinct().Count());
        Assert.True(a.SequenceEqual(a.Order()));
        Assert.NotEqual(a, Probe.Capture.SampleChooser.Choose(500, 60, seed: 10));
    }
}
