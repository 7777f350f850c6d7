"""Rotations of the gripper: roll-pitch-yaw, matrices and quaternions (MuJoCo's w, x, y, z)."""

from __future__ import annotations

import math

import mujoco
import numpy as np


def rpy_to_matrix(rpy: np.ndarray) -> np.ndarray:
    """Rotation R = Rz(yaw) @ Ry(pitch) @ Rx(roll) (fixed-axis x, y, z)."""
    r, p, y = rpy
    cr, sr, cp, sp, cy, sy = (
        math.cos(r),
        math.sin(r),
        math.cos(p),
        math.sin(p),
        math.cos(y),
        math.sin(y),
    )
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


def matrix_to_rpy(matrix: np.ndarray) -> np.ndarray:
    """Inverse of rpy_to_matrix (pitch in [-pi/2, pi/2])."""
    pitch = -math.asin(max(-1.0, min(1.0, matrix[2, 0])))
    roll = math.atan2(matrix[2, 1], matrix[2, 2])
    yaw = math.atan2(matrix[1, 0], matrix[0, 0])
    return np.array([roll, pitch, yaw])


def matrix_to_quat(matrix: np.ndarray) -> np.ndarray:
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(matrix, dtype=np.float64).reshape(9))
    return quat


def quat_to_rpy(quat: np.ndarray) -> np.ndarray:
    matrix = np.zeros(9)
    mujoco.mju_quat2Mat(matrix, np.asarray(quat, dtype=np.float64))
    return matrix_to_rpy(matrix.reshape(3, 3))


def quat_slerp(q0: np.ndarray, q1: np.ndarray, fraction: float) -> np.ndarray:
    dot = float(np.dot(q0, q1))
    if dot < 0:
        q1, dot = -q1, -dot
    if dot > 0.9995:
        out = q0 + fraction * (q1 - q0)
        return out / np.linalg.norm(out)
    theta = math.acos(dot)
    return (math.sin((1 - fraction) * theta) * q0 + math.sin(fraction * theta) * q1) / math.sin(
        theta
    )


def quat_angle(q0: np.ndarray, q1: np.ndarray) -> float:
    return 2 * math.acos(min(1.0, abs(float(np.dot(q0, q1)))))
