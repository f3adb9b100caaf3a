using Probe.Projection;
using Xunit;

namespace Probe.Tests.Projection;

public class ProcrustesTests
{
    static Matrix Points() => Matrix.Create(50, 2, (i, j) => (float)(j == 0 ? Math.Sin(i * 0.7) * 3 + i * 0.1 : Math.Cos(i * 1.3) + 0.02 * i * i));

    static Matrix Transform(Matrix x, double angle, bool reflect, double scale, double tx, double ty) =>
        Matrix.Create(x.Rows, 2, (i, j) =>
        {
            double a = x[i, 0], b = reflect ? -x[i, 1] : x[i, 1];
            double c = Math.Cos(angle), s = Math.Sin(angle);
            return (float)(j == 0 ? scale * (c * a - s * b) + tx : scale * (s * a + c * b) + ty);
        });

    static double MaxDiff(Matrix a, Matrix b) => a.Data.Zip(b.Data, (u, v) => Math.Abs(u - v)).Max();

    [Fact]
    public void RecoversKnownRotationAndTranslation()
    {
        var target = Points();
        var source = Transform(target, 1.1, false, 1.0, 5, -2);
        var fit = Procrustes.Fit(source, target);
        Assert.False(fit.Reflection);
        Assert.True(MaxDiff(fit.Apply(source), target) < 1e-4);
        // the source rows are t R(1.1)^T; undoing it multiplies rows by R(1.1) = [[cos, -sin], [sin, cos]]
        Assert.Equal(Math.Cos(1.1), fit.Rotation[0][0], 5);
        Assert.Equal(Math.Sin(1.1), fit.Rotation[1][0], 5);
        Assert.Equal(-Math.Sin(1.1), fit.Rotation[0][1], 5);
    }

    [Fact]
    public void RecoversReflectionOnlyWhenAllowed()
    {
        var target = Points();
        var source = Transform(target, -0.4, true, 1.0, 0, 0);
        var fit = Procrustes.Fit(source, target);
        Assert.True(fit.Reflection);
        Assert.True(MaxDiff(fit.Apply(source), target) < 1e-4);
        var rotOnly = Procrustes.Align(source, target, allowReflection: false);
        Assert.True(MaxDiff(rotOnly, target) > 0.1);
    }

    [Fact]
    public void ScaleIsOptional()
    {
        var target = Points();
        var source = Transform(target, 2.0, false, 0.25, 1, 1);
        Assert.True(MaxDiff(Procrustes.Align(source, target), target) > 0.5);
        var fit = Procrustes.Fit(source, target, allowScale: true);
        Assert.Equal(4.0, fit.Scale, 4);
        Assert.True(MaxDiff(fit.Apply(source), target) < 1e-4);
    }

    [Fact]
    public void RejectsMismatchedShapes()
    {
        Assert.Throws<ProbeException>(() => Procrustes.Align(new Matrix(5, 2), new Matrix(4, 2)));
        Assert.Throws<ProbeException>(() => Procrustes.Align(new Matrix(5, 3), new Matrix(5, 3)));
    }
}
