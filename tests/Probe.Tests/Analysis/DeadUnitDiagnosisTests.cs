using Probe.Analysis;
using Xunit;

namespace Probe.Tests.Analysis;

public class DeadUnitDiagnosisTests
{
    [Fact]
    public void Explain_ClassifiesConstructedUnits()
    {
        // 4 units x 3 inputs. Inputs have norm at most 2.
        float[] w =
        [
            0, 0, 0,        // unit 0: zero weights, bias -0.1
            0.6f, 0, 0.8f,  // unit 1: ||w|| = 1, bias -3: 1 x 2 - 3 = -1 <= 0
            0.6f, 0, 0.8f,  // unit 2: ||w|| = 1, bias -1: bound +1 > 0, yet the data never turned it on
            1, 1, 1,        // unit 3: alive, not asked about
        ];
        float[] b = [-0.1f, -3f, -1f, 0f];
        float[] maxPre = [-0.1f, -1.4f, -0.2f, 3f];
        var causes = DeadUnitDiagnosis.Explain([0, 1, 2], w, b, 3, maxPre, maxInputNorm: 2.0);
        Assert.Equal([DeadUnitReason.ZeroIncomingWeights, DeadUnitReason.BiasBelowReachableInput, DeadUnitReason.AllPreActivationsNegative],
            causes.Select(c => c.Reason));
        Assert.Equal(1.0, causes[1].WeightNorm, 1e-7);
        Assert.Equal(-1.0, causes[1].ReachableBound, 1e-6);
        Assert.Equal(1.0, causes[2].ReachableBound, 1e-6);
        Assert.Equal(-0.2, causes[2].MaxPreActivation, 1e-6);
        Assert.Equal(-0.1, causes[0].Bias, 1e-7);
        // a zero-weight unit with a positive bias would fire; it is not "zero incoming weights".
        Assert.NotEqual(DeadUnitReason.ZeroIncomingWeights, DeadUnitDiagnosis.Explain([0], [0, 0], [0.5f], 2, [0.5f], 1)[0].Reason);
    }

    [Fact]
    public void Explain_RejectsMismatchedShapes()
    {
        Assert.Throws<ProbeException>(() => DeadUnitDiagnosis.Explain([0], new float[5], new float[2], 3, new float[2], 1));
        Assert.Throws<ProbeException>(() => DeadUnitDiagnosis.Explain([2], new float[6], new float[2], 3, new float[2], 1));
        Assert.Throws<ProbeException>(() => DeadUnitDiagnosis.Explain([0], new float[6], new float[2], 3, new float[3], 1));
    }

    [Fact]
    public void Timeline_FindsWhenUnitsDied()
    {
        int[] epochs = [0, 5, 10, 15];
        float[][] rates =
        [
            [0, 0.5f, 0.5f, 0.3f, 0],
            [0, 0.2f, 0, 0.2f, 0.1f],
            [0, 0, 0.1f, 0.1f, 0],
            [0, 0, 0, 0.1f, 0],
        ];
        var t = DeadUnitDiagnosis.Timeline(epochs, rates);
        // unit 0: dead from initialisation
        Assert.True(t[0].DeadFromInitialisation); Assert.False(t[0].EverAlive); Assert.Equal(0, t[0].DiedAtEpoch);
        // unit 1: died at epoch 10
        Assert.True(t[1].DiedInTraining); Assert.Equal(10, t[1].DiedAtEpoch); Assert.Equal(2, t[1].DiedAtCheckpoint);
        // unit 2: dead at 5, revived at 10, dead again at 15: died at 15, one revival
        Assert.Equal(15, t[2].DiedAtEpoch); Assert.Equal(1, t[2].Revivals);
        // unit 3: alive at the end
        Assert.False(t[3].DeadAtEnd); Assert.Null(t[3].DiedAtEpoch); Assert.True(t[3].EverAlive);
        // unit 4: dead at init, revived, died at 10: not "dead from initialisation"
        Assert.Equal(10, t[4].DiedAtEpoch); Assert.False(t[4].DeadFromInitialisation); Assert.True(t[4].DiedInTraining);
        Assert.Throws<ProbeException>(() => DeadUnitDiagnosis.Timeline([0, 0], [[0f], [0f]]));
        Assert.Throws<ProbeException>(() => DeadUnitDiagnosis.Timeline([0, 1], [[0f], [0f, 1f]]));
    }
}
