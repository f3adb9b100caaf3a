namespace Probe.Projection;

/// <summary>
/// Orthogonal Procrustes alignment of 2-D embeddings, for stable frames across checkpoints: both point sets are
/// centred, the rotation (or reflection) R minimising ||(S - s̄) R c - (T - t̄)||_F is found in closed form, and the
/// aligned points are (S - s̄) R c + t̄, where c = 1 unless <c>allowScale</c> (then c is the least-squares scale).
/// </summary>
public static class Procrustes
{
    /// <summary>Aligns <paramref name="source"/> (n x 2) onto <paramref name="target"/> (n x 2), rows paired by index.</summary>
    public static Matrix Align(Matrix source, Matrix target, bool allowReflection = true, bool allowScale = false) =>
        Fit(source, target, allowReflection, allowScale).Apply(source);

    /// <summary>The alignment of <paramref name="source"/> onto <paramref name="target"/> without applying it.</summary>
    public static ProcrustesTransform Fit(Matrix source, Matrix target, bool allowReflection = true, bool allowScale = false)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        if (source.Cols != 2 || target.Cols != 2)
            throw new ProbeException($"Procrustes alignment works on 2-D embeddings (n x 2); got {source.Rows} x {source.Cols} and {target.Rows} x {target.Cols}.");
        if (source.Rows != target.Rows)
            throw new ProbeException($"Procrustes alignment pairs rows: the source has {source.Rows} rows and the target {target.Rows}.");
        source.EnsureNotEmpty("The Procrustes source").EnsureFinite("The Procrustes source");
        target.EnsureNotEmpty("The Procrustes target").EnsureFinite("The Procrustes target");
        int n = source.Rows;
        double sx = 0, sy = 0, tx = 0, ty = 0;
        for (int i = 0; i < n; i++) { sx += source[i, 0]; sy += source[i, 1]; tx += target[i, 0]; ty += target[i, 1]; }
        sx /= n; sy /= n; tx /= n; ty /= n;
        // M = S_c^T T_c
        double m00 = 0, m01 = 0, m10 = 0, m11 = 0, ss = 0;
        for (int i = 0; i < n; i++)
        {
            double a = source[i, 0] - sx, b = source[i, 1] - sy, c = target[i, 0] - tx, d = target[i, 1] - ty;
            m00 += a * c; m01 += a * d; m10 += b * c; m11 += b * d; ss += a * a + b * b;
        }
        // Rotation R = [[cos, -sin], [sin, cos]] (row vectors times R): tr(R^T M) = cos (m00 + m11) + sin (m10 - m01).
        double rotA = m00 + m11, rotB = m10 - m01, rotScore = Math.Sqrt(rotA * rotA + rotB * rotB);
        // Reflection R = [[cos, sin], [sin, -cos]]: tr(R M) = cos (m00 - m11) + sin (m01 + m10).
        double refA = m00 - m11, refB = m01 + m10, refScore = Math.Sqrt(refA * refA + refB * refB);
        double r00, r01, r10, r11, score;
        bool reflect = allowReflection && refScore > rotScore;
        if (!reflect)
        {
            double th = Math.Atan2(rotB, rotA);
            double c = Math.Cos(th), s = Math.Sin(th);
            r00 = c; r01 = -s; r10 = s; r11 = c; score = rotScore;
        }
        else
        {
            double th = Math.Atan2(refB, refA);
            double c = Math.Cos(th), s = Math.Sin(th);
            r00 = c; r01 = s; r10 = s; r11 = -c; score = refScore;
        }
        double scale = allowScale && ss > 0 ? score / ss : 1.0;
        return new ProcrustesTransform(new[] { sx, sy }, new[] { tx, ty }, new[] { new[] { r00, r01 }, new[] { r10, r11 } }, scale, reflect);
    }
}

/// <summary>An alignment y = (x - SourceMean) Rotation Scale + TargetMean (row vectors); Reflection tells whether det R = -1.</summary>
public sealed record ProcrustesTransform(double[] SourceMean, double[] TargetMean, double[][] Rotation, double Scale, bool Reflection)
{
    /// <summary>Applies the alignment to an n x 2 matrix.</summary>
    public Matrix Apply(Matrix x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Cols != 2) throw new ProbeException($"A 2-D alignment applies to n x 2 matrices, got {x.Rows} x {x.Cols}.");
        var y = new Matrix(x.Rows, 2);
        for (int i = 0; i < x.Rows; i++)
        {
            double a = x[i, 0] - SourceMean[0], b = x[i, 1] - SourceMean[1];
            y[i, 0] = (float)((a * Rotation[0][0] + b * Rotation[1][0]) * Scale + TargetMean[0]);
            y[i, 1] = (float)((a * Rotation[0][1] + b * Rotation[1][1]) * Scale + TargetMean[1]);
        }
        return y;
    }
}
