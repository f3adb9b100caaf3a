using System.Text.Json;
using Probe.Analysis;
using Probe.Capture;
using Probe.Data;
using Probe.Onnx;
using Xunit;

namespace Probe.Tests.Onnx;

public class OnnxReshapedConvTests
{
    /// <summary>
    /// A ReLU fed by a Conv1d that reads a reshaped map (PyTorch's x.flatten(2), exported with a computed shape, so the
    /// Conv is not a site): the study ran the Conv's input as a site and failed ("Unknown layer '/d/Conv'"). Now the
    /// ReLU's dead channels are PyTorch's (fixtures/onnx/make_reshaped_conv.py) and it gets no cause, with the reason.
    /// </summary>
    [Fact]
    public void AReluAfterAConvThatIsNotASiteIsJudgedWithoutACause()
    {
        using var source = new OnnxActivationSource(OnnxSourceTests.Fixture("reshaped_conv.onnx"));
        var data = DataSource.Parse("npy:" + OnnxSourceTests.Fixture("reshaped_conv_x.npy")).Open();
        var expected = JsonDocument.Parse(File.ReadAllText(OnnxSourceTests.Fixture("reshaped_conv.json"))).RootElement
            .GetProperty("relu_dead").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var r = new DeadUnitStudy(new LayerSelector("r")).Run(source, data).Layer("r");
        Assert.Equal(expected, r.Stats.DeadUnits);
        Assert.Empty(r.Causes);
        Assert.Contains("/d/Conv", r.CauseNote);
    }
}
