"""Rewards: answer checking, format rewards and judges."""
