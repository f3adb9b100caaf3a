using Probe.Analysis;
using Probe.Capture;
using Probe.Data;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Probe.Tests.Analysis;

/// <summary>
/// Activations whose names contain "sigmoid" or "tanh" but whose outputs are not in (0, 1) or (-1, 1) are not judged
/// for saturation against those ends. Values worked out by hand.
/// </summary>
public class ActivationKindTests
{
    [Theory]
    [InlineData("LogSigmoid")]
    [InlineData("Tanhshrink")]
    public void UnboundedActivationsNamedAfterSigmoidOrTanhAreNotSaturated(string type)
    {
        // x = ±2.5 and ±3 through Linear(1 → 2) with weights [1, 1], bias 0. LogSigmoid: log σ(x) lies in
        // [-3.05, -0.049], never within 0.01 of 0 or 1; Tanhshrink: x - tanh x has |.| >= 2.5 - 0.987 = 1.51, which is
        // no saturation (it is unbounded). Neither has a saturated or dead unit.
        var fc = nn.Linear(1, 2);
        using (no_grad())
        {
            fc.weight!.copy_(tensor(new float[] { 1, 1 }).reshape(2, 1));
            fc.bias!.copy_(tensor(new float[] { 0, 0 }));
        }
        nn.Module<Tensor, Tensor> act = type == "LogSigmoid" ? nn.LogSigmoid() : nn.Tanhshrink();
        using var model = nn.Sequential(("fc", (nn.Module<Tensor, Tensor>)fc), ("act", act));
        var data = new Dataset("x", new Matrix(4, 1, [2.5f, -2.5f, 3f, -3f]), null, [1]);
        var r = new DeadUnitStudy(new LayerSelector("act")).Run(model, data).Layer("act");
        Assert.Equal(type, r.ModuleType);
        Assert.NotEqual(UnitActivation.Sigmoid, r.Stats.Activation);
        Assert.NotEqual(UnitActivation.Tanh, r.Stats.Activation);
        Assert.Empty(r.Stats.SaturatedUnits);
        Assert.Empty(r.Stats.DeadUnits);
        Assert.Equal(UnitActivation.Auto, UnitActivations.FromModuleType(type));
    }
}
