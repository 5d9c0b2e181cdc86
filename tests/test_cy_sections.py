"""Sections of O(k): the reduced monomial basis is a basis of H⁰(X, O(k)) on every Dwork member,
on hypersurfaces in products and on P⁵[3,3] (dimensions from the Koszul complex, full rank on
points of X), the derivatives agree with autodiff, the algebraic potential with the multinomial
H is Fubini–Study on every ambient product, and the balanced metric does not depend on which
basis is used (the one convention K = log sᴴHs, H ← T⁻¹ is covariant)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkflow  # noqa: F401  (float64)
from ntkflow.cy.donaldson import (  # noqa: PLC2701
    _specs,
    _step_fn,
    balanced_hermitian,
    compile_within_budget,
    t_chunk_bytes,
)
from ntkflow.cy.fubini_study import FubiniStudy
from ntkflow.cy.kahler import pullback_jacobian
from ntkflow.cy.potential import AlgebraicPotential
from ntkflow.cy.sampling import sample_points
from ntkflow.cy.sections import (
    factor_blocks,
    fs_hermitian,
    koszul_count,
    leading_exponent,
    monomial_exponents,
    multidegree_monomials,
    n_sections,
    section_basis,
    section_degree,
    section_values,
    sections,
    standard_monomials,
)
from ntkflow.cy.variety import (
    VarietyError,
    bicubic,
    cicy_p5_33,
    dwork_quintic,
    fermat_quintic,
    tetraquadric,
    variety_from_name,
)
from ntkflow.memory import memory_budget


def _normalised_singular_values(exps, z):
    k = int(np.max(exps))
    S = np.asarray(jax.vmap(lambda x: section_values(jnp.asarray(exps), x, k))(z))
    S = S / np.linalg.norm(S, axis=0, keepdims=True)  # scale-free columns
    s = np.linalg.svd(S, compute_uv=False)
    return s / s[0]


@pytest.mark.parametrize("psi", [0.0, 0.5, 10.0])
def test_reduced_basis_is_a_basis_on_dwork(psi):
    """N_k = C(4+k, 4) − C(k−1, 4) (5, 15, 35, 70, 125, 205 for k = 1..6), and on points of X the
    reduced monomials are independent (full numerical rank) while all degree-k monomials have
    rank exactly N_k: the quotient by Q·O(k−5) has the dimension of H⁰(X, O(k))."""
    X = dwork_quintic(psi)
    # the lexicographic leading term is z0^5 whatever psi: never the product z0 z1 z2 z3 z4
    assert leading_exponent(X.exponents).tolist() == [5, 0, 0, 0, 0]
    pts = sample_points(X, 400, jax.random.PRNGKey(7))
    dims = []
    for k in range(1, 7):
        exps = section_basis(X, k)
        dims.append(len(exps))
        assert (
            len(exps)
            == n_sections(4, 5, k)
            == math.comb(4 + k, 4) - (math.comb(k - 1, 4) if k >= 5 else 0)
        )
        s = _normalised_singular_values(exps, pts.z)
        assert s[-1] > 1e-9, (psi, k, s[-1])
        full = _normalised_singular_values(monomial_exponents(5, k), pts.z)
        assert full[len(exps) - 1] > 1e-9
        if len(full) > len(exps):  # the relations z^a Q = 0 show as a gap of ~machine precision
            assert full[len(exps)] < 1e-12, (psi, k, full[len(exps)])
    assert dims == [5, 15, 35, 70, 125, 205]


def test_section_derivatives_match_autodiff():
    X = dwork_quintic(0.5)
    exps = jnp.asarray(section_basis(X, 4))
    z = jnp.array([1.0, 0.3 - 0.2j, -0.5 + 0.1j, 0.7j, 0.2 + 0.4j])
    s, ds = sections(exps, z, 4)
    np.testing.assert_allclose(s, section_values(exps, z, 4), rtol=1e-14)
    auto = jax.jacfwd(lambda x: section_values(exps, x, 4), holomorphic=True)(z)
    np.testing.assert_allclose(ds, auto, rtol=1e-12, atol=1e-14)


def test_balanced_metric_is_basis_independent():
    """Two different bases of H⁰(X, O(5)) (lex leading term z0^5 vs z4^5, i.e. the coordinates
    reversed; they differ by z0^5 ≡ −z1^5 − … + 5ψ z0⋯z4) give the same balanced metric on the
    same points: det g agrees at test points. Complex ψ makes the change of basis complex, so a
    transposed update (H ← (T⁻¹)ᵀ in this convention) fails."""
    X = dwork_quintic(0.4 + 0.3j)
    pts = sample_points(X, 3000, jax.random.PRNGKey(3))
    train, test = pts.split(20)
    dets = []
    for rev in (False, True):
        perm = np.arange(5)[::-1] if rev else np.arange(5)
        Xp = type(X)(X.exponents[:, perm], X.coefficients, [4], name="perm", check=False)
        exps = section_basis(Xp, 5)[:, np.argsort(perm)]  # back to the original coordinates
        H = balanced_hermitian(exps, train.z, train.weights, 40)
        m = AlgebraicPotential(exps, H)

        def det(z, p, e, m=m):
            return jnp.real(jnp.linalg.det(m.pullback_metric(z, pullback_jacobian(X, z, p, e))))

        dets.append(np.asarray(jax.vmap(det)(test.z, test.patch, test.elim)))
    # the bases differ as sets of monomials
    assert {tuple(e) for e in section_basis(X, 5)} != {tuple(e) for e in exps}
    np.testing.assert_allclose(dets[0], dets[1], rtol=1e-6)


def test_t_operator_chunk_memory_at_k6_within_budget():
    """The compiled T-operator chunk for k = 6 (N_k = 205) on the default 10 N_k² + 5·10⁴ points
    fits half the memory budget (the other half holds the kept section values), and its
    footprint is linear in the chunk with ≤ 8 real (2 N_k)-vectors per point (X, X·Wᵀ, Y and
    the gathered section factors)."""
    exps = section_basis(fermat_quintic(), 6)
    n_k = len(exps)
    n = 10 * n_k**2 + 50_000
    budget = memory_budget() // 2
    for from_points in (True, False):
        _, chunk = compile_within_budget(
            _step_fn(exps, from_points), lambda c, f=from_points: _specs(n_k, 5, c, f), n, budget
        )
        assert 1000 < chunk <= n
        used = t_chunk_bytes(exps, chunk, from_points)
        assert used <= budget
        b1, b2 = t_chunk_bytes(exps, 512, from_points), t_chunk_bytes(exps, 1024, from_points)
        per_point = (b2 - b1) / 512
        assert per_point <= 8 * 2 * n_k * 8 + 5 * n_k * 16 * from_points


# ----------------------------------------------------------------------------------------------
# products of projective spaces and complete intersections
# ----------------------------------------------------------------------------------------------

# h⁰(X, O(k,…,k)) for k = 1, 2, 3 worked by hand from the Koszul sequence
# 0 → ⊕ O(k − Σ_S d) → … → O(k) → O_X(k) → 0 (no higher cohomology in these degrees):
#   bicubic P²×P²[3,3]:    C(k+2,2)² − C(k−1,2)²               = 9, 36, 100 − 1
#   tetraquadric (P¹)⁴[2,2,2,2]: (k+1)⁴ − (k−1)⁴              = 16, 80, 256 − 16
#   P⁵[3,3]:               C(k+5,5) − 2 C(k+2,5) + C(k−1,5)     = 6, 21, 56 − 2
PRODUCT_DIMENSIONS = {
    "bicubic": [9, 36, 99],
    "tetraquadric": [16, 80, 240],
    "cicy:P5[3,3]": [6, 21, 54],
}


def test_product_and_cicy_dimensions():
    """N_k of the reduced bases equals the hand-derived Koszul counts (table above) and the
    general alternating sum; P⁵[3,3] also for k = 4..6 (114, 210, 351 by the same formula, the
    last with the syzygy term C(k−1, 5) = 1)."""
    for name, dims in PRODUCT_DIMENSIONS.items():
        X = variety_from_name(name)
        for k, d in enumerate(dims, start=1):
            assert len(section_basis(X, k)) == koszul_count(X.ambient, X.multidegrees, k) == d
    X = cicy_p5_33()
    for k in (4, 5, 6):
        want = math.comb(k + 5, 5) - 2 * math.comb(k + 2, 5) + math.comb(k - 1, 5)
        assert len(section_basis(X, k)) == want
    assert [len(section_basis(X, k)) for k in (4, 5, 6)] == [114, 210, 351]


def test_macaulay_standard_monomials_equal_leading_term_rule():
    """Two independent constructions of the standard monomials agree on hypersurfaces: the
    numerical echelon form of the Macaulay matrix of (Q)_k and the exact rule "not divisible by
    LT(Q)" (a principal ideal's Gröbner basis is {Q})."""
    cases = [(dwork_quintic(0.3 + 0.2j), 7), (bicubic(), 4), (tetraquadric(), 3)]
    for X, kmax in cases:
        for k in range(1, kmax + 1):
            a = {tuple(e) for e in section_basis(X, k)}
            b = {tuple(e) for e in standard_monomials(X, k)}
            assert a == b, (X.name, k)


@pytest.mark.parametrize("name", ["bicubic", "tetraquadric", "cicy:P5[3,3]"])
def test_product_and_cicy_bases_have_full_rank_on_points(name):
    """On sampled points of X the reduced monomials are independent (full numerical rank), while
    all monomials of multidegree (k,…,k) have rank exactly N_k: the relations I_k vanish on X
    (a gap of ~machine precision) and nothing else does."""
    X = variety_from_name(name)
    pts = sample_points(X, 600, jax.random.PRNGKey(11))
    for k in (1, 2, 3):
        exps = section_basis(X, k)
        s = _normalised_singular_values(exps, pts.z)
        assert s[-1] > 1e-9, (name, k, s[-1])
        full = _normalised_singular_values(
            multidegree_monomials(X.ambient, [k] * X.n_factors), pts.z
        )
        assert full[len(exps) - 1] > 1e-9
        if len(full) > len(exps):
            assert full[len(exps)] < 1e-12, (name, k, full[len(exps)])


def test_factor_blocks_and_degree():
    """The factors read off a basis are the ambient ones; k is the degree per factor (not the
    total degree), and a basis of unequal multidegree is refused."""
    for X in (fermat_quintic(), bicubic(), tetraquadric(), cicy_p5_33()):
        for k in (1, 2, 3):
            exps = section_basis(X, k)
            blocks = factor_blocks(exps)
            assert [b.stop - b.start - 1 for b in blocks] == list(X.ambient)
            assert section_degree(exps) == section_degree(exps, X.ambient) == k
    # one monomial z0⋯z4 of the quintic is no product of five P⁰'s: degree 5, one block
    assert section_degree(np.ones((1, 5), dtype=np.int64)) == 5
    with pytest.raises(ValueError, match="one degree k"):
        section_degree(multidegree_monomials([1, 1], [1, 2]), [1, 1])
    with pytest.raises(VarietyError, match="integer"):
        section_basis(bicubic(), 0)


@pytest.mark.parametrize("name", ["bicubic", "tetraquadric", "cicy:P5[3,3]"])
def test_algebraic_potential_with_fs_hermitian_is_fubini_study(name):
    """With H the products of multinomial coefficients on the full basis of O(k,…,k),
    sᴴHs = ∏_f |z_f|^{2k}, so K = (1/πk) log sᴴHs = Σ_f (1/π) log|z_f|² is Fubini–Study with
    t_f = 1: the closed-form pulled-back metric equals fubini_study's to 1e-12 (k = 1, where
    the reduced basis is the full one, and k = 2 on all monomials)."""
    X = variety_from_name(name)
    pts = sample_points(X, 200, jax.random.PRNGKey(2))
    fs = FubiniStudy(X.ambient)
    full2 = multidegree_monomials(X.ambient, [2] * X.n_factors)
    assert len(section_basis(X, 1)) == len(multidegree_monomials(X.ambient, [1] * X.n_factors))
    for exps in (section_basis(X, 1), full2):
        pot = AlgebraicPotential(exps, fs_hermitian(exps), ambient=X.ambient)

        def both(z, p, e, pot=pot):
            J = pullback_jacobian(X, z, p, e)
            return pot.pullback_metric(z, J), fs.pullback_metric(z, J), pot(z), fs(z)

        g, g_fs, K, K_fs = jax.vmap(both)(pts.z, pts.patch, pts.elim)
        scale = float(jnp.max(jnp.abs(g_fs)))
        np.testing.assert_allclose(np.asarray(g), np.asarray(g_fs), rtol=0, atol=1e-12 * scale)
        np.testing.assert_allclose(np.asarray(K), np.asarray(K_fs), rtol=0, atol=1e-12)
